import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Chromium from '@sparticuz/chromium'
import { type Browser, chromium } from 'playwright-core'
import { resolveScenario } from '../../simulations/scenario.ts'
import { runSweep } from '../../simulations/sweep.ts'

/**
 * The Chromium that @sparticuz/chromium ships in its npm package, unpacked once per package version: the
 * package unpacks into the temp dir and reuses any `chromium` already there, whichever version left it.
 */
async function chromiumPath(): Promise<string> {
  const pkg = join(import.meta.dirname, '../../node_modules/@sparticuz/chromium/package.json')
  const dir = join(tmpdir(), `weir-chromium-${JSON.parse(readFileSync(pkg, 'utf8')).version}`)
  mkdirSync(dir, { recursive: true })
  const tmp = process.env.TMPDIR
  process.env.TMPDIR = dir
  try {
    return await Chromium.executablePath()
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = tmp
  }
}

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

    browser = await chromium.launch({
      executablePath: await chromiumPath(),
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    })
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: string[] = []
    page.on('console', msg => {
      if (msg.type() === 'error') errors.push(msg.text())
    })
    page.on('pageerror', err => errors.push(err.message))
    page.on('requestfailed', req => errors.push(`request failed: ${req.url()}`))
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
