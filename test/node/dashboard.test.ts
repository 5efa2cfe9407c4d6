import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Browser } from 'playwright-core'
import type { RateSample } from '../../node/host/throughput.ts'
import { launchChromium, pageErrors } from '../helpers/chromium.ts'
import { waitFor } from '../helpers/wait.ts'
import { exited, Processes } from './processes.ts'

// A real `weir relay` carries traffic from a real `weir proxy` (curl as the client, a local web server as
// the target); headless Chromium then loads the relay's dashboard from its status listener.

const BODY = randomBytes(8 * 1024 * 1024)

describe('relay dashboard (real processes, headless Chromium)', function () {
  this.timeout(60_000)
  // Kept (under out/, which git ignores) so the screenshots can be looked at after the test.
  const out = join('out', 'test-dashboard')
  const procs = new Processes()
  let work: string
  let web: Server
  let browser: Browser | undefined

  before(async () => {
    rmSync(out, { recursive: true, force: true })
    mkdirSync(out, { recursive: true })
    work = mkdtempSync(join(tmpdir(), 'weir-dashboard-'))
    web = createServer((_req, res) => res.end(BODY))
    await new Promise<void>(resolve => web.listen(0, '127.0.0.1', resolve))
  })

  after(async () => {
    await browser?.close()
    procs.killAll()
    web?.closeAllConnections()
    web?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('shows throughput, tunnels, cap, quota and earnings of a relay that carried traffic', async () => {
    procs.run(['network', 'new', '--out', join(work, 'net'), '--witnesses', '1', '--committee', '1'])
    const dir = join(work, 'relay')
    procs.run([
      'init',
      '--dir',
      dir,
      '--network',
      join(work, 'net', 'network.json'),
      '--payout',
      `0x${'ab'.repeat(20)}`,
    ])
    const { info: relay } = await procs.start<{ addresses: string[]; status: string }>([
      'relay',
      '--dir',
      dir,
      '--status',
      '127.0.0.1:0',
      '--allow-private-exits',
      '--monthly-quota',
      '1GB',
    ])
    const { info: proxy } = await procs.start<{ socks: string }>([
      'proxy',
      '--socks',
      '127.0.0.1:0',
      '--relay',
      relay.addresses[0]!,
    ])
    const webPort = (web.address() as { port: number }).port
    for (let i = 0; i < 3; i++) {
      const curl = procs.spawn('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '--socks5-hostname',
        proxy.socks,
        `http://127.0.0.1:${webPort}/`,
      ])
      assert.equal(await exited(curl), 0)
    }
    const base = `http://${relay.status}`
    await waitFor(
      async () => {
        const status = (await (await fetch(`${base}/status`)).json()) as { throughput: RateSample[] }
        return status.throughput.some(s => s.out > 0)
      },
      { what: 'a throughput sample with the traffic in it', timeoutMs: 10_000, intervalMs: 250 },
    )

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors = pageErrors(page)
    await page.goto(`${base}/`, { waitUntil: 'load' })
    await page.waitForSelector('svg.chart polyline', { timeout: 10_000 })
    const chart = await page.$eval('svg.chart', svg => ({
      points: Number((svg as SVGElement).dataset.points),
      lines: svg.querySelectorAll('polyline').length,
      width: svg.getBoundingClientRect().width,
    }))
    assert.ok(chart.points >= 2 && chart.lines === 2 && chart.width > 300, JSON.stringify(chart))
    const text = await page.textContent('main')
    for (const expected of [
      relay.addresses[0]!,
      'Tunnels',
      'uncapped',
      'of 1.00 GB',
      'no ledger configured',
      'Last errors',
    ])
      assert.ok(text?.includes(expected), `the page does not show '${expected}'`)
    // the relay's own record of problems (a relay with no peers may log one), shown as it keeps it
    const { errors: problems } = (await (await fetch(`${base}/status`)).json()) as {
      errors: { msg: string }[]
    }
    for (const shown of problems.length === 0 ? ['none recorded'] : problems.map(e => e.msg))
      assert.ok(text?.includes(shown), `the page does not show '${shown}'`)
    const shot = resolve(out, 'relay.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok(statSync(shot).size > 10_000)
    console.log(`    screenshot: ${shot}`)

    // On a phone the cards stack and nothing runs off the side.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.waitForFunction(
      () => Number(document.querySelector('svg.chart')?.getAttribute('viewBox')?.split(' ')[2]) < 390,
    )
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390))
    const phone = resolve(out, 'relay-phone.png')
    await page.screenshot({ path: phone, fullPage: true })
    console.log(`    screenshot: ${phone}`)
    assert.deepEqual(errors, [])
  })
})
