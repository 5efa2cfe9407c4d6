import { Registry } from 'prom-client'
import assert from 'node:assert/strict'
import type { Browser } from 'playwright-core'
import { dashboardPage } from '../../../node/host/dashboard.ts'
import { type StatusServer, startStatusServer } from '../../../node/host/status-server.ts'
import { launchChromium, pageErrors } from '../../helpers/chromium.ts'

// The witness page's layout of a witness status (the shape witness/status.ts serves), in headless
// Chromium: the renderer is the page's own JavaScript, so only a browser runs it.

const RECENT = [2, 1, 0].map(i => ({
  epoch: 7,
  relay: `12D3KooRelay${i}`,
  helper: '12D3KooHelper',
  outcome: i === 1 ? 'refused' : 'ok',
  startedAt: 1_700_000_000_000 + i * 60_000,
  durationMs: 4000,
  bytes: 8_000_000,
  forwardBps: 2_000_000 + i * 100_000,
  reverseBps: 1_900_000,
  rttMs: 12,
}))

describe('witness dashboard page (headless Chromium)', function () {
  this.timeout(60_000)
  let server: StatusServer
  let browser: Browser | undefined

  before(async () => {
    server = await startStatusServer('127.0.0.1', 0, {
      page: dashboardPage('witness'),
      status: () => ({
        peerId: '12D3KooWitness',
        addresses: ['/ip4/127.0.0.1/tcp/1'],
        epoch: 7,
        seedKnown: true,
        relaysKnown: 3,
        probes: {
          planned: 4,
          done: 3,
          failed: 1,
          skipped: 0,
          published: 2,
          publishFailed: 0,
          outcomes: { ok: 2, refused: 1 },
        },
        evidence: 0,
        recent: RECENT,
      }),
      metrics: new Registry(),
    })
  })

  after(async () => {
    await browser?.close()
    await server?.close()
  })

  it('charts the recent probes and lists their outcomes, without console errors', async () => {
    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
    const errors = pageErrors(page)
    await page.goto(`http://${server.address}/`, { waitUntil: 'load' })
    await page.waitForSelector('svg.chart polyline')
    assert.equal(await page.$eval('svg.chart', svg => (svg as SVGElement).dataset.points), '3')
    const text = (await page.textContent('main')) ?? ''
    for (const expected of ['12D3KooRelay1', 'refused', 'attestations published', 'epochs measured'])
      assert.ok(text.includes(expected), `the page does not show '${expected}'`)
    assert.deepEqual(errors, [])
  })
})
