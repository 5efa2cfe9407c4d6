import assert from 'node:assert/strict'
import { mkdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser } from 'playwright-core'
import type { LedgerApi } from '../../ledger/api.ts'
import { LedgerEarnings } from '../../node/relay/earnings.ts'
import { graceEnd } from '../../protocol/epoch.ts'
import { launchChromium, pageErrors } from '../helpers/chromium.ts'
import { certify, ingestAttestations, type MemoryLedger, memoryLedger, serveApi } from './memory-ledger.ts'

// The ledger's dashboard at GET / of its API, over an in-memory ledger with epoch 0 certified, in
// headless Chromium.

describe('ledger dashboard (headless Chromium)', function () {
  this.timeout(60_000)
  const out = join('out', 'test-dashboard')
  let m: MemoryLedger
  let api: LedgerApi
  let browser: Browser | undefined
  let base: string

  before(async () => {
    mkdirSync(out, { recursive: true })
    m = memoryLedger()
    await ingestAttestations(m, 0)
    certify(m, 0)
    await ingestAttestations(m, 1)
    m.clock.ms = graceEnd(m.network, 1) + 1000
    ;({ api, url: base } = await serveApi(m))
  })

  after(async () => {
    await browser?.close()
    await api?.close()
    m?.store.close()
  })

  it('lists the epochs with their status and certified roots, without console errors', async () => {
    const res = await fetch(`${base}/`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)

    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1024, height: 768 } })
    const errors = pageErrors(page)
    await page.goto(`${base}/`, { waitUntil: 'load' })
    await page.waitForSelector('table tbody tr')
    const rows = await page.$$eval('table tbody tr', trs => trs.map(tr => tr.textContent ?? ''))
    const { rewardsRoot: root } = await (await fetch(`${base}/epochs/0/certificate`)).json()
    assert.ok(
      rows.some(r => r.startsWith('0certified') && r.includes(root)),
      `no certified epoch 0 in ${rows}`,
    )
    assert.ok(
      rows.some(r => r.startsWith('2open')),
      `no open epoch 2 in ${rows}`,
    )
    const shot = resolve(out, 'ledger.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok(statSync(shot).size > 5_000)
    console.log(`    screenshot: ${shot}`)
    assert.deepEqual(errors, [])
  })
  it("feeds a relay's dashboard its earnings per epoch and its claimable total", async () => {
    const { relays } = await (await fetch(`${base}/relays`)).json()
    const { peerId, payout } = relays[0]
    const earnings = new LedgerEarnings(`${base}/`, peerId, payout)
    await earnings.poll()
    const view = earnings.current()
    assert.equal(view.error, null)
    assert.equal(view.ledger, base)
    assert.deepEqual(
      view.relay?.history.map(h => h.epoch),
      [0],
    )
    assert.equal(view.rewards?.epoch, 0)
    assert.ok(BigInt(view.rewards?.amount ?? '0') > 0n)

    const unknown = new LedgerEarnings(base, '12D3KooWRAan89mcVWSHxezuu4znaBP7Gzxiu7co2FzPBzhorheU', payout)
    await unknown.poll()
    assert.equal(unknown.current().error, null)
    assert.equal(unknown.current().relay, null)
  })
})
