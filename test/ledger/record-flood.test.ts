import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { loadDataDir, NETWORK_FILE } from '../../node/host/datadir.ts'
import { topic } from '../../node/host/host.ts'
import { loadSecp256k1Key } from '../../node/host/identity.ts'
import { DB_FILE, Ledger } from '../../ledger/ledger.ts'
import { keyVoteSigner } from '../../ledger/vote-signer.ts'
import { epochAt } from '../../protocol/epoch.ts'
import { attestationsFor, makeNetwork, seedFor, type LedgerNetwork, waitForEpochStart } from './helpers.ts'
import { sleep, waitFor } from '../helpers/wait.ts'
import { type GossipNode, gossipNode } from '../witness/nodes.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const FLOOD = 10_000

// What the flood may cost one ledger (docs/ledger.md, "Floods", has the measured figures). The flooder
// publishes its own records, so the publisher budget (10 records) and a disconnection stop it; the
// record bound is what one address may store at once whoever publishes.
const BOUNDS = {
  /** flood records the ledger stores */
  records: 500,
  /** growth of ledger.sqlite and its WAL */
  diskBytes: 512 * 1024,
  /** CPU of this process (the ledger, mostly) from the flood's start until the epoch is certified */
  cpuMs: 3_000,
  /** the longest the event loop is held up meanwhile (generous: the machine may be shared) */
  maxLoopDelayMs: 2_000,
}

const diskBytes = (dir: string): number =>
  ['', '-wal'].reduce((sum, suffix) => {
    const path = join(dir, DB_FILE + suffix)
    return sum + (existsSync(path) ? statSync(path).size : 0)
  }, 0)

/** Starts the flooder process; resolves once it is in the ledger's relays mesh. */
async function startFlooder(args: string[]): Promise<{ proc: ChildProcess; lines: AsyncIterator<string> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/ledger/flooder.ts', ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done || !JSON.parse(first.value).ready) throw new Error('flooder did not start')
  return { proc, lines }
}

// DESIGN §9: gossip spam. Anyone can make validly signed relay records with fresh keys; one flooding
// peer must not be able to fill a ledger's disk or stall it, and honest attestations must still certify.
describe('ledger: a flood of validly signed relay records', function () {
  this.timeout(120_000)
  let t: LedgerNetwork | undefined
  let ledger: Ledger | undefined
  let flooder: ChildProcess | undefined
  let witness: GossipNode | undefined

  after(async () => {
    flooder?.kill('SIGKILL')
    await witness?.stop()
    await ledger?.stop()
    t?.cleanup()
  })

  it(`absorbs ${FLOOD.toLocaleString('en')} records from fresh keys within bounds, and still certifies honest attestations`, async () => {
    t = makeNetwork({
      committee: 1,
      witnesses: 3,
      // long enough for the whole flood (about 3 s idle) to land in one epoch, short enough not to wait
      epochSeconds: 15,
      graceSeconds: 2,
      relays: 4,
      genesisInMs: 10_000,
    })
    const dir = t.ledgerDirs[0] as string
    ledger = await Ledger.start({
      data: loadDataDir(dir),
      signer: keyVoteSigner(loadSecp256k1Key(join(dir, 'signer.key'))),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      api: { host: '127.0.0.1', port: 0 },
    })
    const address = String(ledger.host.getMultiaddrs()[0])
    const started = await startFlooder([
      '--network',
      join(dir, NETWORK_FILE),
      '--dial',
      address,
      '--count',
      String(FLOOD),
    ])
    flooder = started.proc
    // The honest publisher joins the attestations topic only: a peer on the relays topic that validates
    // nothing would verify and forward the whole flood, in this process.
    witness = await gossipNode(t.network.id)
    const attestations = topic(t.network.id, 'attestations')
    witness.services.pubsub.subscribe(attestations)
    await witness.dial(multiaddr(address))
    await waitFor(
      async () => (witness?.services.pubsub.getSubscribers(attestations).length === 1 ? true : undefined),
      { what: 'the ledger on the attestations topic', timeoutMs: 20_000, intervalMs: 200 },
    )
    // the first epoch that starts after setup, however long setup took
    const epoch = epochAt(t.network, Date.now()) + 1
    const api = `http://${ledger.apiAddress}`
    const seed = await waitFor(() => seedFor(t?.network as LedgerNetwork['network'], epoch, api), {
      what: 'the seed',
      timeoutMs: 30_000,
      intervalMs: 200,
    })
    await waitForEpochStart(t.network, epoch)

    const disk = diskBytes(dir)
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const cpu = process.cpuUsage()
    flooder.stdin?.write(`go ${epoch}\n`)
    // honest attestations of the epoch, published while the flood arrives
    const honest = attestationsFor(t, epoch, seed, t.relays, r => 1_000_000 * (r + 1))
    await sleep(200)
    for (const bytes of honest) await witness.services.pubsub.publish(attestations, bytes)
    const done = await started.lines.next()
    const { published, ms } = JSON.parse(done.value as string)
    assert.equal(published, FLOOD)
    // The epoch's content is final once it is certified (records arriving later are no longer timely).
    const cert = await waitFor(async () => ledger?.store.certificate(epoch), {
      what: 'the certificate of the flooded epoch',
      timeoutMs: 60_000,
      intervalMs: 200,
    }).catch(() => undefined)
    const used = process.cpuUsage(cpu)
    loop.disable()
    const stored = ledger.store.counts(epoch).relayRecords
    const figures = {
      floodMs: ms,
      stored,
      diskBytes: diskBytes(dir) - disk,
      cpuMs: Math.round((used.user + used.system) / 1000),
      loopMaxMs: Math.round(loop.max / 1e6),
      loopP99Ms: Math.round(loop.percentile(99) / 1e6),
      commits: commitsOf(await (await fetch(`${api}/metrics`)).text()),
    }
    console.log(`      flood figures: ${JSON.stringify(figures)}`)
    assert.ok(stored <= BOUNDS.records, `the ledger stored ${stored} flood records (bound ${BOUNDS.records})`)
    assert.ok(
      figures.diskBytes <= BOUNDS.diskBytes,
      `disk grew ${figures.diskBytes} bytes (bound ${BOUNDS.diskBytes})`,
    )
    assert.ok(
      figures.cpuMs <= BOUNDS.cpuMs,
      `the ledger spent ${figures.cpuMs} ms CPU (bound ${BOUNDS.cpuMs})`,
    )
    assert.ok(
      figures.loopMaxMs <= BOUNDS.maxLoopDelayMs,
      `the event loop was held up ${figures.loopMaxMs} ms (bound ${BOUNDS.maxLoopDelayMs})`,
    )
    assert.ok(cert, 'the flooded epoch is certified')
    assert.equal(ledger.store.counts(epoch).attestations, honest.length, 'every honest attestation certified')
  })
})

function commitsOf(metrics: string): number {
  const line = metrics.split('\n').find(l => l.startsWith('weir_ledger_commits_total'))
  return Number(line?.split(' ').pop() ?? 0)
}
