import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type * as v from 'valibot'
import { type Hex, hexToBytes } from 'viem'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { deployContracts, rootOf, tokenBalance } from '../../contracts/client.ts'
import { certificateJson } from '../../ledger/api.ts'
import { initDataDir } from '../../node/host/datadir.ts'
import { createSecp256k1Key } from '../../node/host/identity.ts'
import { to0x } from '../../protocol/bytes.ts'
import { buildRewardsTree, hexProof, type RewardLeaf } from '../../protocol/merkle.ts'
import type { rewardsAnswer } from '../../protocol/ledger-api.ts'
import type { Address } from '../../protocol/network.ts'
import { type Certificate, encodeCertificate, signVote } from '../../protocol/vote.ts'
import { testNetwork } from '../helpers/network.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

const run = promisify(execFile)
const weir = nodeArgs(WEIR_ENTRY)

/** Serves certificates and reward proofs as the ledger API answers them (GET /epochs/:e/certificate, /rewards/:a). */
function fakeLedgerApi(certificates: Certificate[], leaves: () => RewardLeaf[]): Server {
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const cert = /^\/epochs\/(\d+)\/certificate$/.exec(req.url ?? '')
    if (cert) {
      const found = certificates.find(c => c.epoch === Number(cert[1]))
      if (!found) return send(404, { error: 'not certified' })
      return send(200, certificateJson({ epoch: found.epoch, bytes: encodeCertificate(found), signers: [] }))
    }
    const rewards = /^\/rewards\/(0x[0-9a-f]{40})$/.exec(req.url ?? '')
    if (rewards) {
      const tree = buildRewardsTree(leaves())
      const leaf = tree.leaves.find(l => l.account === rewards[1])
      if (!leaf) return send(404, { error: 'no rewards' })
      const proof = hexProof(tree.proof(leaf.account) ?? [])
      const answer: v.InferInput<typeof rewardsAnswer> = {
        account: leaf.account,
        epoch: certificates.length - 1,
        amount: leaf.amount.toString(),
        rewardsRoot: to0x(tree.root),
        proof,
      }
      return send(200, answer)
    }
    send(404, { error: 'no such route' })
  })
}

describe('ledger: weir anchor and weir claim against Anvil', () => {
  let anvil: Anvil
  let dir: string
  let api: Server
  let ledgerUrl: string
  let rewards: Address
  const certificates: Certificate[] = []
  let leaves: RewardLeaf[] = []
  let relayDir: string

  before(async () => {
    anvil = await startAnvil({ accounts: 3 })
    dir = mkdtempSync(join(tmpdir(), 'weir-anchor-'))
    const { network, members } = testNetwork({
      label: 'anchor-claim',
      overrides: {
        id: 'anchor-claim',
        genesis: Date.now(),
        epochSeconds: 60,
        chain: { chainId: anvil.chainId },
      },
    })
    ;({ rewards } = (await deployContracts({
      rpcUrl: anvil.rpcUrl,
      deployerKey: anvil.privateKeys[0] as Hex,
      networkId: network.id,
      committee: network.committee.map(m => m.signer),
      quorum: network.quorum,
      emissionPerEpoch: network.emissionPerEpoch,
    })) as { rewards: Address })
    const signers = members.map(m => m.signerKey)
    const certify = (epoch: number, amounts: bigint[]) => {
      leaves = amounts.map((amount, i) => ({
        account: anvil.accounts[i + 1]?.toLowerCase() as Address,
        amount,
      }))
      const root = {
        net: network.id,
        epoch,
        contentRoot: new Uint8Array(32).fill(epoch + 1),
        rewardsRoot: buildRewardsTree(leaves).root,
        cumulativeTotal: amounts.reduce((a, b) => a + b, 0n),
      }
      const domain = { chainId: anvil.chainId, verifyingContract: rewards }
      certificates.push({
        ...root,
        signatures: signers.slice(0, 3).map(k => signVote(domain, root, k).signature),
      })
    }
    certify(0, [300n, 700n])
    certify(1, [900n, 1000n])
    for (const [i, key] of anvil.privateKeys.entries())
      createSecp256k1Key(join(dir, `key-${i}`), Uint8Array.from(hexToBytes(key)))
    relayDir = join(dir, 'relay')
    initDataDir(relayDir, network, { payout: anvil.accounts[1]?.toLowerCase() as Address })
    api = fakeLedgerApi(certificates, () => leaves)
    await new Promise<void>(resolve => api.listen(0, '127.0.0.1', resolve))
    ledgerUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
  })

  after(async () => {
    api?.close()
    await anvil?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const weirRun = (...args: string[]) => run(process.execPath, [...weir, ...args])
  const chain = () => ['--ledger', ledgerUrl, '--rpc', anvil.rpcUrl, '--contract', rewards]

  it('anchors every certified epoch in order, and again finds nothing to do', async () => {
    const { stdout } = await weirRun('anchor', ...chain(), '--key', join(dir, 'key-0'))
    const lines = stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l))
    assert.deepEqual(
      lines.map(l => [l.epoch, l.alreadyAnchored]),
      [
        [0, false],
        [1, false],
      ],
    )
    assert.equal((await rootOf({ rpcUrl: anvil.rpcUrl, rewards, epoch: 1 }))?.cumulativeTotal, 1900n)
    const again = await weirRun('anchor', ...chain(), '--key', join(dir, 'key-0'))
    assert.equal(again.stdout.trim(), '')
    assert.match(again.stderr, /nothing to anchor/)
  })

  it('shows earned (verified against the certificate), claimed and claimable', async () => {
    const earnings = async (url: string) =>
      JSON.parse(
        (
          await weirRun(
            'earnings',
            '--dir',
            relayDir,
            '--ledger',
            url,
            '--rpc',
            anvil.rpcUrl,
            '--contract',
            rewards,
          )
        ).stdout,
      )
    const shown = await earnings(ledgerUrl)
    assert.deepEqual(
      [shown.account, shown.epoch, shown.earned, shown.claimed, shown.claimable, shown.anchoredEpoch],
      [anvil.accounts[1]?.toLowerCase(), 1, '900', '0', '900', 1],
    )
    // A ledger that overstates the amount cannot prove it against the certified root.
    const lying = fakeLedgerApi(certificates, () => leaves.map(l => ({ ...l, amount: l.amount + 1n })))
    await new Promise<void>(resolve => lying.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(lying.address() as { port: number }).port}`
      await assert.rejects(earnings(url), (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1)
        assert.match(err.stderr, /does not match the certified rewards root/)
        return true
      })
    } finally {
      lying.close()
    }
  })

  it("claims the key's cumulative amount once; a second claim receives nothing", async () => {
    const account = anvil.accounts[2] as Address
    const first = JSON.parse((await weirRun('claim', ...chain(), '--key', join(dir, 'key-2'))).stdout)
    assert.equal(first.received, '1000')
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token: rewards, account }), 1000n)
    const second = JSON.parse((await weirRun('claim', ...chain(), '--key', join(dir, 'key-2'))).stdout)
    assert.equal(second.received, '0')
  })

  it('claims for --account with a key that is not the payout key, paying the account', async () => {
    const [sender, account] = anvil.accounts as [Address, Address]
    const before = await tokenBalance({ rpcUrl: anvil.rpcUrl, token: rewards, account: sender })
    const args = ['--key', join(dir, 'key-0'), '--account', account]
    const claimed = JSON.parse((await weirRun('claim', ...chain(), ...args)).stdout)
    assert.equal(claimed.account.toLowerCase(), account.toLowerCase())
    assert.equal(claimed.received, '900')
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token: rewards, account }), 900n)
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token: rewards, account: sender }), before)
  })

  it('names the flag that is wrong', async () => {
    await assert.rejects(
      weirRun('claim', '--ledger', ledgerUrl, '--rpc', anvil.rpcUrl, '--contract', '0x12'),
      err => {
        assert.equal((err as { code: number }).code, 2)
        assert.match((err as { stderr: string }).stderr, /--contract expects a 0x-prefixed 20-byte address/)
        return true
      },
    )
    await assert.rejects(
      weirRun('claim', ...chain(), '--key', join(dir, 'key-0'), '--account', 'me'),
      err => {
        assert.match((err as { stderr: string }).stderr, /--account expects a 0x-prefixed 20-byte address/)
        return true
      },
    )
  })
})
