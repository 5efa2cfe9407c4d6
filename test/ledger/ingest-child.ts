// A child process for the crash test: ingests attestations (one hex body per line in a file) into a
// ledger data dir with the ledger's own Ingest and store, printing `acked N` after each batch commits.
import '../../node/runtime.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadDataDir } from '../../node/datadir.ts'
import { Ingest } from '../../ledger/ingest.ts'
import { DB_FILE } from '../../ledger/ledger.ts'
import { Metrics } from '../../ledger/metrics.ts'
import { LedgerStore } from '../../ledger/store.ts'
import { epochSeed } from '../../protocol/seed.ts'

const [dir, file] = process.argv.slice(2) as [string, string]
const { network } = loadDataDir(dir)
const store = new LedgerStore(join(dir, DB_FILE))
const ingest = new Ingest(network, store, e => epochSeed(network, e, undefined), new Metrics())
const items = readFileSync(file, 'utf8')
  .split('\n')
  .filter(l => l !== '')
  .map(l => new Uint8Array(Buffer.from(l, 'hex')))
let acked = 0
for (let i = 0; i < items.length; i += 500) {
  const results = await Promise.all(items.slice(i, i + 500).map(b => ingest.submit('attestation', b)))
  if (results.some(r => r.outcome !== 'accept')) throw new Error(`not accepted: ${JSON.stringify(results)}`)
  acked += results.length
  process.stdout.write(`acked ${acked}\n`)
}
store.close()
