import { strict as assert } from 'node:assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Writable } from 'node:stream'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initDataDir, writeNetworkFile } from '../../node/host/datadir.ts'
import { createDialer } from '../../node/host/host.ts'
import { openCircuit } from '../../node/tunnel/client.ts'
import { type AttestationBody, capacityOf } from '../../protocol/attestation.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { networkDefinitionToJson, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import type { ProbeReport } from '../../witness/witness.ts'
import { waitFor } from '../helpers/wait.ts'
import { Children } from './processes.ts'
import { witnessTestNetwork } from './test-network.ts'

const MB = 1_000_000
const MACHINE = 3 * MB
const LONE = 2 * MB
const SHARED = 3
const BUSY = 2 * MB
/** what the busy relay's user moves each way, bytes/s: a fifth of its cap in all */
const USER_BPS = 200_000
const INFLATING = 1 * MB
const INFLATION = 10

const HUNGRY = 2 * MB

/**
 * A user of one relay: a 1-hop tunnel through it to a server on 127.0.0.1. Paced, each end writes
 * USER_BPS (in 10 writes a second, none while a tenth of a second's worth is still queued); flat out,
 * the server sends as fast as the tunnel takes it (a download) and the user sends nothing.
 */
class BackgroundUser {
  private server: Server | undefined
  private readonly timers = new Set<NodeJS.Timeout>()
  private dialer: Awaited<ReturnType<typeof createDialer>> | undefined

  constructor(private readonly mode: 'paced' | 'flat out') {}

  async start(networkId: string, relay: string, address: string): Promise<void> {
    this.server = createServer(socket => {
      socket.on('error', () => {})
      socket.resume()
      if (this.mode === 'paced') this.pace(socket)
      else flatOut(socket)
    })
    const server = this.server
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const dialer = await createDialer(await generateKeyPair('Ed25519'))
    this.dialer = dialer
    const peer = peerIdFromString(relay)
    await dialer.peerStore.merge(peer, { multiaddrs: [multiaddr(address)] })
    const tunnel = await openCircuit(dialer, networkId, [peer], {
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
    })
    tunnel.on('error', () => {})
    tunnel.resume()
    if (this.mode === 'paced') this.pace(tunnel)
  }

  private pace(out: Writable): void {
    const chunk = Buffer.alloc(USER_BPS / 10)
    const timer = setInterval(() => {
      if (out.writableLength < chunk.length) out.write(chunk)
    }, 100)
    this.timers.add(timer)
    out.once('close', () => clearInterval(timer))
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    await this.dialer?.stop()
    await new Promise<void>(resolve => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

/** Writes into `out` whenever it takes more, until it closes. */
function flatOut(out: Writable): void {
  const chunk = Buffer.alloc(64 * 1024)
  const fill = () => {
    while (!out.destroyed && out.write(chunk));
  }
  out.on('drain', fill)
  fill()
}

// One witness and eight relays, one epoch:
// - three identities on one machine (127.0.0.1, one 3 MB/s token bucket for all three): probed alone,
//   each would read the whole machine; probed together, their readings add up to it;
// - a quiet 2 MB/s relay (127.0.1.1), and a fast helper (127.0.1.2);
// - a 2 MB/s relay whose user up- and downloads 0.2 MB/s each way all through the epoch (127.0.1.3): the
//   probe gets what the user leaves, and the background credit gives back the rest;
// - a 1 MB/s relay that reports ten times the traffic it carried (127.0.1.4): it gains at most a third;
// - a 2 MB/s relay whose user downloads flat out (127.0.1.5): the probe's several circuits take most of
//   the relay from the user's one, and the credit gives back what the user keeps.
describe('witness readings: co-located identities, busy relays, relays that claim traffic', function () {
  this.timeout(180_000)
  const children = new Children()
  let work: string
  const names = new Map<string, string>()
  let reports: ProbeReport[] = []
  const user = new BackgroundUser('paced')
  const downloader = new BackgroundUser('flat out')

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-colo-'))
    const made = witnessTestNetwork(join(work, 'net'), { witnesses: 1, epochSeconds: 70, graceSeconds: 50 })
    const roles = [
      'helper',
      'lone',
      'busy',
      'inflating',
      'hungry',
      ...Array.from({ length: SHARED }, (_, i) => `shared-${i + 1}`),
    ]
    const keys = roles.map(() => generateEd25519())
    const peers = keys.map(k => peerIdToString(peerIdOfPublicKey(k.publicKey)))
    for (const [i, p] of peers.entries()) names.set(p, roles[i] as string)
    const network = parseNetworkDefinition({
      ...networkDefinitionToJson(made.network),
      genesis: Date.now() + 12_000,
      relays: peers.map(peerId => ({ peerId, payout: `0x${'ab'.repeat(20)}` })),
    })
    const witnessDir = made.witnessDirs[0] as string
    writeNetworkFile(join(witnessDir, 'network.json'), network)
    const dirs = roles.map((role, i) => {
      const dir = join(work, role)
      initDataDir(dir, network, { payout: `0x${'ab'.repeat(20)}` }, keys[i])
      return dir
    })
    const relay = (dir: string, listen: string, cap: number) =>
      children.weir<{ addresses: string[] }>([
        'relay',
        '--dir',
        dir,
        '--listen',
        listen,
        '--allow-private-exits',
        '--max-bandwidth',
        `${cap}B/s`,
      ])
    const helper = await relay(dirs[0] as string, '/ip4/127.0.1.2/tcp/0', 100 * MB)
    const boot = ['--bootstrap', helper.addresses[0] as string]
    const lone = await relay(dirs[1] as string, '/ip4/127.0.1.1/tcp/0', LONE)
    const busy = await relay(dirs[2] as string, '/ip4/127.0.1.3/tcp/0', BUSY)
    const inflating = await children.start<{ addresses: string[] }>(
      [
        '--import',
        'tsx',
        'test/witness/rogue-relay.ts',
        '--dir',
        dirs[3] as string,
        '--max-bandwidth',
        String(INFLATING),
        '--listen',
        '/ip4/127.0.1.4/tcp/0',
        ...boot,
      ],
      { WEIR_TEST_TRAFFIC_FACTOR: String(INFLATION) },
    )
    const shared = await children.start<{ relays: { addresses: string[] }[] }>([
      '--import',
      'tsx',
      'test/witness/shared-machine.ts',
      '--max-bandwidth',
      String(MACHINE),
      ...dirs.slice(5).flatMap(d => ['--dir', d]),
      ...boot,
    ])
    const hungry = await relay(dirs[4] as string, '/ip4/127.0.1.5/tcp/0', HUNGRY)
    await user.start(network.id, peers[2] as string, busy.addresses[0] as string)
    await downloader.start(network.id, peers[4] as string, hungry.addresses[0] as string)
    const all = [helper, lone, busy, inflating, hungry, ...shared.relays].map(r => r.addresses[0] as string)
    const witness = await children.weir<{ status: string }>([
      'witness',
      '--dir',
      witnessDir,
      '--status',
      '127.0.0.1:0',
      '--concurrency',
      '1',
      ...all.flatMap(a => ['--bootstrap', a]),
    ])
    let seen = ''
    await waitFor(
      async () => {
        const status = (await (await fetch(`http://${witness.status}/status`)).json()) as {
          probes: { done: number; skipped: number }
          recent: ProbeReport[]
        }
        reports = status.recent
        seen = JSON.stringify(status.probes)
        return roles.slice(1).every(role => reports.some(r => names.get(r.relay) === role))
      },
      { what: 'a probe of every relay but the helper', timeoutMs: 120_000, intervalMs: 1000 },
    ).catch(err => {
      const log = [...children.stderr].find(([args]) => args.includes(' witness'))?.[1] ?? ''
      throw new Error(`${err.message} (probes ${seen}): ${log.slice(-3000)}`)
    })
  })

  after(async () => {
    await user.stop()
    await downloader.stop()
    children.killAll()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  const report = (role: string): ProbeReport => {
    const r = reports.find(x => names.get(x.relay) === role)
    assert.ok(r, `no probe of ${role}`)
    assert.equal(r.outcome, 'ok', `${role}: ${r.outcome}`)
    return r
  }
  /** what the probe itself read */
  const capacity = (role: string): number => Math.min(report(role).forwardBps, report(role).reverseBps)
  /** with the background credit (attestation v2), as the tally counts it */
  const credited = (role: string): number => capacityOf(report(role) as unknown as AttestationBody)
  const show = (role: string) => {
    const r = report(role)
    const b = r.background
    return `probe ${(capacity(role) / MB).toFixed(3)} MB/s, background ${b ? `${(b.forwardBps / MB).toFixed(3)}/${(b.reverseBps / MB).toFixed(3)}` : 'none'}, credited ${(credited(role) / MB).toFixed(3)} MB/s`
  }

  it('reads the identities of one machine as shares of it, and a relay at another address alone', () => {
    const shares = Array.from({ length: SHARED }, (_, i) => capacity(`shared-${i + 1}`))
    const sum = shares.reduce((a, b) => a + b, 0)
    const lone = capacity('lone')
    console.log(
      `      machine ${MACHINE / MB} MB/s: ${shares.map(s => (s / MB).toFixed(2)).join(' + ')} = ${(sum / MB).toFixed(2)} MB/s; lone ${LONE / MB} MB/s: ${(lone / MB).toFixed(2)} MB/s`,
    )
    assert.ok(Math.abs(sum - MACHINE) / MACHINE < 0.1, `the machine's identities read ${shares} B/s in all`)
    assert.ok(Math.abs(lone - LONE) / LONE < 0.1, `the relay alone at 127.0.1.1 read ${lone} B/s`)
  })

  it('credits a quiet relay next to no background', () => {
    console.log(`      quiet ${LONE / MB} MB/s: ${show('lone')}`)
    const b = report('lone').background
    assert.ok(b, 'the quiet relay gave no traffic report')
    assert.ok(b.forwardBps < 0.03 * LONE && b.reverseBps < 0.03 * LONE, `background ${JSON.stringify(b)}`)
  })

  it("reads a busy relay's cap: the probe gets what its user leaves, the background credit the rest", () => {
    console.log(`      busy ${BUSY / MB} MB/s, user ${(2 * USER_BPS) / MB} MB/s: ${show('busy')}`)
    assert.ok(report('busy').background, 'the busy relay gave no traffic report')
    assert.ok(
      capacity('busy') < 0.9 * BUSY,
      `the probe alone read ${capacity('busy')} B/s: was the user idle?`,
    )
    const error = Math.abs(credited('busy') - BUSY) / BUSY
    assert.ok(error < 0.1, `credited ${credited('busy')} B/s, ${(100 * error).toFixed(1)}% off the cap`)
  })

  it(`gains a relay that reports ${INFLATION} times its traffic at most a third`, () => {
    console.log(`      inflating ${INFLATING / MB} MB/s: ${show('inflating')}`)
    const probe = capacity('inflating')
    assert.ok(Math.abs(probe - INFLATING) / INFLATING < 0.1, `the probe read ${probe} B/s`)
    assert.ok(credited('inflating') <= probe + Math.floor(probe / 3), `credited ${credited('inflating')} B/s`)
    assert.ok(credited('inflating') > 1.3 * probe, 'the inflated report was not credited at all')
  })

  it("reads the cap of a relay whose user downloads flat out: the probe's circuits take most of it", () => {
    console.log(`      hungry ${HUNGRY / MB} MB/s, a download flat out: ${show('hungry')}`)
    assert.ok(report('hungry').background, 'the hungry relay gave no traffic report')
    const error = Math.abs(credited('hungry') - HUNGRY) / HUNGRY
    assert.ok(error < 0.1, `credited ${credited('hungry')} B/s, ${(100 * error).toFixed(1)}% off the cap`)
  })
})
