import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Database from 'better-sqlite3'
import { DB_FILE } from '../../ledger/ledger.ts'
import { to0x, toHex } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { itemId } from '../../protocol/record.ts'
import {
  attestationsFor,
  getJson,
  type LedgerProcess,
  makeNetwork,
  seedFor,
  startLedgers,
  stopLedger,
  type TestNetwork,
  waitFor,
  waitForCertificate,
  waitForEpochStart,
} from './helpers.ts'

const CHILD = new URL('./ingest-child.ts', import.meta.url).pathname

/** Runs the ingest child; `onAcked` sees every `acked N` line. Resolves with its exit code or signal. */
function ingestChild(dir: string, file: string, onAcked: (n: number, kill: () => void) => void) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  createInterface({ input: child.stdout }).on('line', line => {
    const m = /^acked (\d+)$/.exec(line)
    if (m) onAcked(Number(m[1]), () => child.kill('SIGKILL'))
  })
  return new Promise<number | string | null>(resolve =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  )
}

describe('ledger: kill -9 during heavy ingest', function () {
  this.timeout(120_000)
  let t: TestNetwork
  let ledgers: LedgerProcess[] = []

  after(async () => {
    await Promise.all(ledgers.map(l => stopLedger(l, 'SIGKILL')))
    t?.cleanup()
  })

  it('loses no acknowledged attestation, and the restarted replica converges with the others', async () => {
    // 3 witnesses, each assigned to every relay: 6,700 relays give 20,100 attestations in epoch 0.
    t = makeNetwork({
      committee: 4,
      witnesses: 3,
      epochSeconds: 30,
      graceSeconds: 4,
      relays: 6700,
      genesisInMs: 1000,
    })
    await waitForEpochStart(t.network, 0)
    const items = attestationsFor(t, 0, await seedFor(t.network, 0), t.relays, (r, w) => 100_000 + r * 10 + w)
    assert.ok(items.length >= 20_000)
    const file = join(t.dir, 'attestations.hex')
    writeFileSync(file, items.map(toHex).join('\n'))
    const [first, victim] = t.ledgerDirs as [string, string]

    // The victim's ingest prints `acked N` once the batch holding the first N items has committed.
    let acked = 0
    const ended = await ingestChild(victim, file, (n, kill) => {
      acked = n
      if (n >= 5000) kill()
    })
    assert.equal(ended, 'SIGKILL')
    const db = new Database(join(victim, DB_FILE))
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
    const has = db.prepare('SELECT 1 FROM items WHERE id = ?').pluck()
    const missing = items.slice(0, acked).filter(b => has.get(itemId('attestation', b)) === undefined)
    const held = db.prepare('SELECT count(*) FROM items').pluck().get() as number
    db.close()
    assert.equal(missing.length, 0, `${missing.length} of ${acked} acknowledged attestations lost`)
    assert.ok(held < items.length, 'killed during ingest')

    // Another member holds all of them; the other two hold none. Restarted as real ledgers, they
    // reconcile over /sync before voting and certify one root over the whole set.
    assert.equal(await ingestChild(first, file, () => {}), 0)
    ledgers = await startLedgers(t.ledgerDirs)
    const expected = to0x(contentRoot(items.map(b => itemId('attestation', b))))
    for (const l of ledgers) {
      const cert = await waitForCertificate(l, 0, 60_000)
      assert.equal(cert.contentRoot, expected, `${l.api}: certified content is every attestation`)
    }
    const restarted = ledgers[1] as LedgerProcess
    const tally = await waitFor('the restarted ledger to hold the certified content', 20_000, async () => {
      const r = await getJson(`${restarted.api}/epochs/0/tally`)
      return r.status === 200 && r.body.certified ? r.body : undefined
    })
    assert.equal(tally.items.attestations, items.length)
  })
})
