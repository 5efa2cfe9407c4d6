import assert from 'node:assert/strict'
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser } from 'playwright-core'
import { resolveScenario } from '../../simulations/scenario.ts'
import { runSweep } from '../../simulations/sweep.ts'
import { launchChromium, pageErrors } from '../helpers/chromium.ts'

describe('report.html', () => {
  // Kept (under out/, which git ignores) so the screenshot can be looked at after the test.
  const out = join('out', 'test-report')
  let browser: Browser | undefined

  before(() => rmSync(out, { recursive: true, force: true }))
  after(async () => {
    await browser?.close()
  })

  it('loads in headless Chromium without console errors and draws its charts', async function () {
    this.timeout(120_000)
    mkdirSync(out, { recursive: true })
    const scenario = resolveScenario({
      name: 'report',
      runs: 2,
      epochs: 4,
      network: { relays: 120, witnesses: 10, epochSeconds: 600, graceSeconds: 60 },
      adversaries: { inflating: { fraction: 0.1, detection: 0.8 } },
    })
    await runSweep(scenario, { out, workers: 0 })

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors = pageErrors(page)
    await page.goto(pathToFileURL(join(out, 'report.html')).href, { waitUntil: 'load' })
    assert.deepEqual(errors, [])

    const charts = await page.$$eval('svg.chart', svgs =>
      svgs.map(svg => ({
        title: svg.getAttribute('aria-label'),
        marks: svg.querySelectorAll('circle, polyline, rect, polygon').length,
        width: svg.getBoundingClientRect().width,
      })),
    )
    const titles = charts.map(c => c.title ?? '')
    for (const expected of [
      'Estimate vs true',
      'Error distribution',
      'reward vs true capacity',
      'Gain ratio of inflating',
      'Gini',
    ]) {
      const chart = charts.find(c => c.title?.includes(expected))
      assert.ok(chart, `no chart titled '${expected}' in ${titles}`)
      assert.ok(chart.marks > 0 && chart.width > 100, `chart '${expected}' drew nothing`)
    }
    const shot = join(out, 'report.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok(statSync(shot).size > 10_000)
  })
})
