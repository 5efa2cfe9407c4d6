import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { getAddress, hexToBytes } from 'viem'
import { UsageError } from '../../cli/args.ts'
import { command } from '../../cli/commands/contracts.ts'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { readRewards } from '../../contracts/client.ts'
import { networkHash } from '../../contracts/typed-data.ts'
import { createSecp256k1Key } from '../../node/host/identity.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

const weir = nodeArgs(WEIR_ENTRY)

describe('contracts: weir contracts deploy', () => {
  let anvil: Anvil
  let dir: string
  let keyFile: string
  let networkFile: string
  let network: NetworkDefinition

  /** A copy of the network file with some top-level fields replaced. */
  const variant = (name: string, overrides: Record<string, unknown>) => {
    const path = join(dir, name)
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(networkFile, 'utf8')), ...overrides }))
    return path
  }
  const deploy = (network: string, key = keyFile) =>
    command.run(['deploy', '--rpc', anvil.rpcUrl, '--key', key, '--network', network])

  before(async () => {
    anvil = await startAnvil({ accounts: 2 })
    dir = mkdtempSync(join(tmpdir(), 'weir-contracts-cli-'))
    keyFile = join(dir, 'deployer.key')
    createSecp256k1Key(keyFile, Uint8Array.from(hexToBytes(anvil.privateKeys[0]!)))
    ;({ network, path: networkFile } = createLocalNetwork({
      out: join(dir, 'net'),
      id: 'local-cli',
      witnesses: 1,
      committee: 4,
      epochSeconds: 60,
      eligibilityDelay: 0,
      emission: 10n ** 21n,
      chainId: anvil.chainId,
      genesis: Date.now(),
    }))
  })

  after(async () => {
    await anvil?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('deploys for a network definition and prints the addresses', async () => {
    const run = promisify(execFile)
    const args = ['contracts', 'deploy', '--rpc', anvil.rpcUrl, '--key', keyFile, '--network', networkFile]
    const printed = JSON.parse((await run(process.execPath, [...weir, ...args])).stdout)
    assert.deepEqual(Object.keys(printed), ['token', 'rewards', 'chainId'])
    assert.equal(printed.chainId, anvil.chainId)
    const state = await readRewards({ rpcUrl: anvil.rpcUrl, rewards: printed.rewards })
    assert.equal(state.token, printed.token)
    assert.equal(state.network, networkHash('local-cli'))
    assert.deepEqual(
      state.committee,
      network.committee.map(m => getAddress(m.signer)),
    )
    assert.equal(state.quorum, BigInt(network.quorum))
    assert.equal(state.emissionPerEpoch, 10n ** 21n)
  })

  it('names the flag or field that is wrong', async () => {
    const badKey = join(dir, 'bad.key')
    writeFileSync(badKey, '0x1234\n', { mode: 0o600 })
    const openKey = join(dir, 'open.key')
    writeFileSync(openKey, `${anvil.privateKeys[0]}\n`, { mode: 0o644 })
    const notJson = join(dir, 'broken.json')
    writeFileSync(notJson, '{"id":')
    const cases: [Promise<number>, RegExp][] = [
      [deploy(networkFile, badKey), /^--key: .*bad\.key: expected a secp256k1 secret key/],
      [deploy(networkFile, openKey), /^--key: .*readable by others/],
      [deploy(join(dir, 'missing.json')), /^--network: cannot read/],
      [deploy(notJson), /^--network: .*broken\.json: \(file\): expected JSON/],
      [deploy(variant('quorum.json', { quorum: 9 })), /^--network: .*quorum\.json: quorum/],
      [deploy(variant('chain.json', { chain: {} })), /^--network: .*chain\.json: chain\.chainId/],
      [command.run(['deploy', '--key', keyFile]), /^--rpc is required/],
      [command.run(['launch']), /subcommand 'deploy'/],
    ]
    for (const [run, message] of cases) {
      await assert.rejects(run, (err: Error) => {
        assert.ok(err instanceof UsageError, `${err}`)
        assert.match(err.message, message)
        return true
      })
    }
  })

  it('refuses a chain whose id differs from the network definition', async () => {
    const other = variant('other-chain.json', { chain: { chainId: 1 } })
    await assert.rejects(deploy(other), /chain id 31337, the network definition says 1/)
  })
})
