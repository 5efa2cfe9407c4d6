import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { UsageError } from '../../cli/args.ts'
import { command } from '../../cli/commands/contracts.ts'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { readRewards } from '../../contracts/client.ts'
import { networkHash } from '../../contracts/typed-data.ts'

const weir = new URL('../../bin/weir.js', import.meta.url).pathname

describe('contracts: weir contracts deploy', () => {
  let anvil: Anvil
  let dir: string
  let keyFile: string
  const network = (overrides: Record<string, unknown> = {}) => ({
    id: 'local-cli',
    committee: anvil.accounts.slice(1, 5).map((signer, i) => ({ peerId: `peer-${i}`, signer })),
    quorum: 3,
    emissionPerEpoch: '1000000000000000000000',
    chain: { chainId: anvil.chainId },
    ...overrides,
  })
  const write = (name: string, content: unknown) => {
    const path = join(dir, name)
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
    return path
  }
  const deploy = (networkFile: string, key = keyFile) =>
    command.run(['deploy', '--rpc', anvil.rpcUrl, '--key', key, '--network', networkFile])

  before(async () => {
    anvil = await startAnvil({ accounts: 5 })
    dir = mkdtempSync(join(tmpdir(), 'weir-contracts-cli-'))
    keyFile = write('deployer.key', `${anvil.privateKeys[0]}\n`)
  })

  after(async () => {
    await anvil?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('deploys from a key file and a network definition and prints the addresses', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      weir,
      'contracts',
      'deploy',
      '--rpc',
      anvil.rpcUrl,
      '--key',
      keyFile,
      '--network',
      write('network.json', network()),
    ])
    const printed = JSON.parse(stdout)
    assert.deepEqual(Object.keys(printed), ['token', 'rewards', 'chainId'])
    assert.equal(printed.chainId, anvil.chainId)
    const state = await readRewards({ rpcUrl: anvil.rpcUrl, rewards: printed.rewards })
    assert.equal(state.token, printed.token)
    assert.equal(state.network, networkHash('local-cli'))
    assert.deepEqual(state.committee, anvil.accounts.slice(1, 5))
    assert.equal(state.quorum, 3n)
    assert.equal(state.emissionPerEpoch, 10n ** 21n)
  })

  it('names the flag or field that is wrong', async () => {
    const cases: [Promise<number>, RegExp][] = [
      [deploy(write('a.json', network()), write('bad.key', '0x1234')), /--key: .* 32-byte hex/],
      [deploy(join(dir, 'missing.json')), /--network: cannot read/],
      [deploy(write('b.json', '{"id":')), /--network: .* not valid JSON/],
      [deploy(write('c.json', network({ id: 7 }))), /'id' must be a non-empty string/],
      [deploy(write('d.json', network({ committee: [{ signer: '0x12' }] }))), /'committee\[0\]\.signer'/],
      [deploy(write('e.json', network({ quorum: 5 }))), /'quorum' must be a whole number from 1 to .* 4/],
      [deploy(write('f.json', network({ emissionPerEpoch: 1000 }))), /'emissionPerEpoch' must be a decimal/],
      [deploy(write('g.json', network({ chain: {} }))), /'chain\.chainId'/],
      [command.run(['deploy', '--key', keyFile]), /--rpc is required/],
      [command.run(['launch']), /subcommand 'deploy'/],
    ]
    for (const [run, message] of cases) {
      await assert.rejects(run, (err: Error) => err instanceof UsageError && message.test(err.message))
    }
  })

  it('refuses a chain whose id differs from the network definition', async () => {
    await assert.rejects(
      deploy(write('h.json', network({ chain: { chainId: 1 } }))),
      /chain id 31337, .* says 1/,
    )
  })
})
