import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

const weir = nodeArgs(WEIR_ENTRY)

interface Relay {
  peerId: string
  capacityBps: number
  measuredBps: number
  reward: string
  claimed: string
}

describe('e2e: weir testnet runs the whole cycle', function () {
  this.timeout(360_000)
  let out: string

  before(() => {
    out = mkdtempSync(join(tmpdir(), 'weir-e2e-'))
  })
  after(() => rmSync(out, { recursive: true, force: true }))

  it('certifies every epoch with one root at all ledgers, anchors it, claims equal the tallies, and measures every relay within 10% of its cap', async () => {
    // 5 relays (1, 5.75, 10.5, 15.25 and 20 MB/s): the fastest is probed through the next two, which
    // carry 1.29× its cap; with 4 (13.7 + 7.3 for 20 MB/s, 1.05×) its reverse window once read 13% low.
    // The machine runs one probe at a time: 64 s is the shortest epoch weir testnet accepts for 5 relays
    // on 2 cores (simulations/testnet/feasibility.ts), which holds their probes wherever they are drawn.
    const args = ['testnet', '--relays', '5', '--witnesses', '3', '--ledgers', '4', '--epoch-seconds', '64']
    const child = spawn(
      process.execPath,
      [...weir, ...args, '--epochs', '2', '--out', join(out, 'run'), '--json'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => {
      stdout += d
    })
    child.stderr.on('data', d => {
      stderr += d
    })
    const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
    assert.equal(code, 0, `weir testnet failed:\n${stderr.slice(-3000)}`)
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      epochs: { epoch: number; root: string; ledgersAgreeing: number; anchorTx: string; relays: Relay[] }[]
    }
    // the run starts at epoch 0, or at the first whole epoch after startup when startup overran genesis
    const first = report.epochs[0]?.epoch ?? -1
    assert.deepEqual(
      report.epochs.map(e => e.epoch),
      [first, first + 1],
    )
    const rewarded = new Map<string, bigint>()
    const claimed = new Map<string, bigint>()
    for (const e of report.epochs) {
      assert.equal(e.ledgersAgreeing, 4, `epoch ${e.epoch}: every ledger holds the one certificate`)
      assert.match(e.root, /^0x[0-9a-f]{64}$/)
      assert.match(e.anchorTx, /^0x[0-9a-f]{64}$/)
      const minted = e.relays.reduce((sum, r) => sum + BigInt(r.reward), 0n)
      assert.ok(minted === 0n || minted === 1000n * 10n ** 18n, `epoch ${e.epoch}: emission split exactly`)
      for (const r of e.relays) {
        rewarded.set(r.peerId, (rewarded.get(r.peerId) ?? 0n) + BigInt(r.reward))
        claimed.set(r.peerId, (claimed.get(r.peerId) ?? 0n) + BigInt(r.claimed))
      }
    }
    assert.deepEqual(claimed, rewarded, 'what each relay claimed on chain equals what the ledgers tallied')
    for (const e of report.epochs) {
      console.log(
        e.relays
          .map(
            r =>
              `      epoch ${e.epoch} ${r.peerId.slice(-6)} true ${r.capacityBps} B/s, measured ${r.measuredBps} B/s`,
          )
          .join('\n'),
      )
    }
    const logs = join(out, 'run', 'logs')
    const witnessLines = (peerId: string) =>
      readdirSync(logs)
        .filter(f => f.startsWith('witness'))
        .flatMap(f => readFileSync(join(logs, f), 'utf8').split('\n'))
        .filter(line => line.includes(peerId))
        .join('\n')
    const paid = report.epochs.filter(e => e.relays.some(r => r.reward !== '0'))
    assert.equal(paid.length, report.epochs.length, 'every epoch of the run paid')
    // Every reading within 10% of the relay's cap. The faults fixed so far read 11–100% low: a probe
    // through a too-slow helper, a skipped probe, ledgers and Anvil taking the CPU from probes.
    const readings = report.epochs.flatMap(e => e.relays.map(r => ({ epoch: e.epoch, ...r })))
    const error = (r: Relay) => Math.abs(r.measuredBps - r.capacityBps) / r.capacityBps
    const explain = (r: (typeof readings)[number]) =>
      `epoch ${r.epoch}: relay ${r.peerId} measured at ${r.measuredBps} B/s, true ${r.capacityBps} B/s; ` +
      `what the witnesses logged about it:\n${witnessLines(r.peerId)}`
    const wide = readings.filter(r => error(r) > 0.1)
    if (wide.length > 0) assert.fail(wide.map(explain).join('\n'))
  })
})
