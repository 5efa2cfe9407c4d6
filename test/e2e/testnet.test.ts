import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Browser, Page } from 'playwright-core'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'
import { launchChromium, pageErrors } from '../helpers/chromium.ts'
import { sleep, waitFor } from '../helpers/wait.ts'

const weir = nodeArgs(WEIR_ENTRY)

interface Relay {
  peerId: string
  capacityBps: number
  measuredBps: number
  reward: string
  claimed: string
}

interface Report {
  epochs: { epoch: number; root: string; ledgersAgreeing: number; anchorTx: string; relays: Relay[] }[]
  dashboards: Record<string, string>
}

interface EarningsStatus {
  peerId: string
  earnings: { relay: { history: { epoch: number; reward: string }[] } | null } | null
}

describe('e2e: weir testnet runs the whole cycle', function () {
  this.timeout(360_000)
  let out: string
  let child: ChildProcess | undefined
  let stderr = ''
  let report: Report

  // One run for the whole file: it keeps every process up after its report (--linger) until the last
  // test is done, so the dashboards are looked at while the network runs.
  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'weir-e2e-'))
    // 5 relays (1, 5.8, 10.5, 15.3 and 20 MB/s): the fastest is probed through the next two, which
    // carry 1.29× its cap; with 4 (13.7 + 7.3 for 20 MB/s, 1.05×) its reverse window once read 13% low.
    // The machine runs one probe at a time: 64 s is the shortest epoch weir testnet accepts for 5 relays
    // on 2 cores (simulations/testnet/feasibility.ts), which holds their probes wherever they are drawn.
    const args = ['testnet', '--relays', '5', '--witnesses', '3', '--ledgers', '4', '--epoch-seconds', '64']
    child = spawn(
      process.execPath,
      [...weir, ...args, '--epochs', '2', '--out', join(out, 'run'), '--json', '--linger'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    child.stderr?.on('data', d => {
      stderr = (stderr + d).slice(-20_000)
    })
    const running = child
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: running.stdout as NodeJS.ReadableStream }).on('line', l => {
        if (l.startsWith('{')) resolve(l)
      })
      running.once('exit', code =>
        reject(new Error(`weir testnet exited with ${code}:\n${stderr.slice(-3000)}`)),
      )
    })
    report = JSON.parse(line) as Report
  })

  after(async () => {
    if (child && child.exitCode === null) {
      const exit = new Promise(resolve => child?.once('exit', resolve))
      child.kill('SIGINT')
      const stopped = await Promise.race([exit, sleep(30_000).then(() => 'hung')])
      if (stopped === 'hung') child.kill('SIGKILL')
    }
    rmSync(out, { recursive: true, force: true })
  })

  it('certifies every epoch with one root at all ledgers, anchors it, claims equal the tallies, and reads every relay within 10% of its cap in an epoch and within 25% in each', () => {
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
    // The faults fixed so far read 11–100% low: a probe through a too-slow helper, a skipped probe,
    // ledgers and Anvil taking the CPU from probes. One is left: now and then a probe's forward window
    // reads 11–22% low while its reverse window reads the cap (one reading of one relay in each of 3 of 4
    // idle runs on 2 cores, at 12 and at 20 MB/s). Until that is found, each relay must be read within
    // 10% in one epoch at least, and every reading within 25%.
    const readings = report.epochs.flatMap(e => e.relays.map(r => ({ epoch: e.epoch, ...r })))
    const error = (r: Relay) => Math.abs(r.measuredBps - r.capacityBps) / r.capacityBps
    const explain = (r: (typeof readings)[number]) =>
      `epoch ${r.epoch}: relay ${r.peerId} measured at ${r.measuredBps} B/s, true ${r.capacityBps} B/s; ` +
      `what the witnesses logged about it:\n${witnessLines(r.peerId)}`
    const wide = readings.filter(r => error(r) > 0.25)
    const neverClose = readings.filter(
      r => error(r) > 0.1 && readings.every(o => o.peerId !== r.peerId || error(o) > 0.1),
    )
    const failed = [...wide, ...neverClose.filter(r => !wide.includes(r))]
    if (failed.length > 0) assert.fail(failed.map(explain).join('\n'))
  })
  it('serves every role’s dashboard while it runs: no console errors, a relay’s earnings as the ledger API has them', async () => {
    // Kept (under out/, which git ignores) so the screenshots can be looked at after the test.
    const shots = join('out', 'test-e2e-dashboards')
    rmSync(shots, { recursive: true, force: true })
    mkdirSync(shots, { recursive: true })
    const ledger = report.dashboards['ledger-1'] as string
    const relay = report.dashboards['relay-5'] as string
    let browser: Browser | undefined
    try {
      browser = await launchChromium()
      const open = browser
      const visit = async (name: string, url: string, check?: (page: Page) => Promise<void>) => {
        const page = await open.newPage({ viewport: { width: 1280, height: 900 } })
        const errors = pageErrors(page)
        await page.goto(url, { waitUntil: 'load' })
        await page.waitForSelector('main', { timeout: 10_000 })
        if (name.startsWith('relay')) await page.waitForSelector('svg.chart polyline', { timeout: 10_000 })
        await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
        assert.deepEqual(errors, [], `${name}: console errors`)
        await check?.(page)
        await page.close()
      }
      for (const [name, url] of Object.entries(report.dashboards))
        if (name !== 'relay-5') await visit(name, url)

      // A relay polls its ledger every 30 s: wait until it has read every epoch of the run.
      const epochs = report.epochs.map(e => e.epoch)
      const status = await waitFor(
        async () => {
          const s = (await (await fetch(`${relay}status`)).json()) as EarningsStatus
          const seen = new Set(s.earnings?.relay?.history.map(h => h.epoch))
          return epochs.every(e => seen.has(e)) && s
        },
        {
          what: 'relay-5 to read its earnings for every epoch of the run',
          timeoutMs: 45_000,
          intervalMs: 1000,
        },
      )
      const api = (await (await fetch(`${ledger}relays/${status.peerId}`)).json()) as {
        history: { epoch: number; reward: string }[]
      }
      const rewardsIn = (history: { epoch: number; reward: string }[]) =>
        epochs.map(e => history.find(h => h.epoch === e)?.reward)
      const shown = rewardsIn(status.earnings?.relay?.history ?? [])
      assert.deepEqual(shown, rewardsIn(api.history), 'the relay shows what the ledger API has')
      assert.deepEqual(
        shown,
        report.epochs.map(e => e.relays.find(r => r.peerId === status.peerId)?.reward),
        'and what the run tallied',
      )
      await visit('relay-5', relay, async page => {
        const text = (await page.textContent('main')) ?? ''
        for (const reward of shown) assert.ok(text.includes(String(reward)), `relay-5's page shows ${reward}`)
        const points = await page.$eval('svg.chart', svg => Number((svg as SVGElement).dataset.points))
        assert.ok(points >= 2, `relay-5's throughput chart has ${points} points`)
      })
    } finally {
      await browser?.close()
    }
    console.log(`      screenshots: ${shots}`)
  })

  it('stops every process on Ctrl-C after lingering, and exits 0', async () => {
    const running = child as ChildProcess
    const exit = new Promise<number | null>(resolve => running.once('exit', resolve))
    running.kill('SIGINT')
    assert.equal(await exit, 0, stderr.slice(-3000))
  })
})
