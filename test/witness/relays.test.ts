import { strict as assert } from 'node:assert'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir, writeNetworkFile } from '../../node/host/datadir.ts'
import { createHost, type Host } from '../../node/host/host.ts'
import { createIdentity } from '../../node/host/identity.ts'
import { openCircuit } from '../../node/tunnel/client.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import {
  type NetworkDefinition,
  networkDefinitionToJson,
  parseNetworkDefinition,
} from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { runProbe } from '../../witness/probe.ts'
import { ProbeSink } from '../../witness/sink.ts'
import type { ProbeReport } from '../../witness/witness.ts'
import { waitFor } from '../helpers/wait.ts'
import { Children, relayListen } from './processes.ts'
import { witnessTestNetwork } from './test-network.ts'

const MB = 1_000_000

interface Spec {
  name: string
  /** --max-bandwidth in bytes/s; undefined = uncapped */
  cap?: number
  rogue?: 'favour' | 'flip'
}

// One witness, seven relays on loopback (each on an address of its own, or the witness would probe them as
// one machine), one epoch: four honest capped relays, a fast helper, a relay that serves the witnesses'
// own tunnels unshaped, and one that flips bits. The helper advertises a cap: on a new network an
// unmeasured relay that claims nothing is no helper.
const SPECS: Spec[] = [
  { name: 'helper', cap: 100 * MB },
  { name: 'capped-2', cap: 2 * MB },
  { name: 'capped-5', cap: 5 * MB },
  { name: 'capped-10', cap: 10 * MB },
  { name: 'capped-20', cap: 20 * MB },
  { name: 'favours-witnesses', cap: 1 * MB, rogue: 'favour' },
  { name: 'flips-bits', cap: 1 * MB, rogue: 'flip' },
]

describe('witness against real relays', function () {
  this.timeout(200_000)
  const children = new Children()
  let work: string
  let network: NetworkDefinition
  const addresses = new Map<string, string>()
  const names = new Map<string, string>()
  let reports: ProbeReport[] = []
  let statusAddress: string
  const control = generateEd25519()
  const hosts: Host[] = []

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-witness-'))
    const made = witnessTestNetwork(join(work, 'net'), { witnesses: 1, epochSeconds: 50, graceSeconds: 50 })
    const keys = SPECS.map(() => generateEd25519())
    const peers = keys.map(k => peerIdToString(peerIdOfPublicKey(k.publicKey)))
    for (const [i, p] of peers.entries()) names.set(p, SPECS[i]?.name as string)
    network = parseNetworkDefinition({
      ...networkDefinitionToJson(made.network),
      genesis: Date.now() + 15_000,
      relays: peers.map(peerId => ({ peerId, payout: `0x${'ab'.repeat(20)}` })),
    })
    const witnessDir = made.witnessDirs[0] as string
    writeNetworkFile(join(witnessDir, 'network.json'), network)
    const witnessPeer = network.witnesses[0] as string
    const controlPeer = peerIdToString(peerIdOfPublicKey(control.publicKey))

    const start = async (spec: Spec, i: number, bootstrap: string[]) => {
      const dir = join(work, spec.name)
      initDataDir(dir, network, { payout: `0x${'ab'.repeat(20)}` }, keys[i])
      const boot = bootstrap.flatMap(b => ['--bootstrap', b])
      const info = spec.rogue
        ? await children.start<{ addresses: string[] }>(
            [
              '--import',
              'tsx',
              'test/witness/rogue-relay.ts',
              '--dir',
              dir,
              '--max-bandwidth',
              String(spec.cap),
              '--listen',
              relayListen(i),
              ...boot,
            ],
            spec.rogue === 'favour'
              ? { WEIR_TEST_FAVOUR_PEERS: `${witnessPeer},${controlPeer}` }
              : { WEIR_TEST_FLIP_BITS: '1' },
          )
        : await children.weir<{ addresses: string[] }>([
            'relay',
            '--dir',
            dir,
            '--listen',
            relayListen(i),
            '--allow-private-exits',
            ...(spec.cap ? ['--max-bandwidth', `${spec.cap}B/s`] : []),
            ...boot,
          ])
      addresses.set(spec.name, info.addresses[0] as string)
    }
    await start(SPECS[0] as Spec, 0, [])
    const first = [addresses.get('helper') as string]
    await Promise.all(SPECS.slice(1).map((spec, i) => start(spec, i + 1, first)))
    const witness = await children.weir<{ status: string }>([
      'witness',
      '--dir',
      witnessDir,
      '--status',
      '127.0.0.1:0',
      // one probe at a time: on a shared two-core machine, concurrent probes compete for CPU
      '--concurrency',
      '1',
      ...[...addresses.values()].flatMap(a => ['--bootstrap', a]),
    ])
    statusAddress = witness.status
    // one probe per relay, the bit-flipper's confirmed through three unrelated helpers
    const witnessLog = () =>
      [...children.stderr.entries()].filter(([args]) => args.includes('weir.ts witness'))
    let done = 0
    await waitFor(
      async () => {
        const status = (await (await fetch(`http://${statusAddress}/status`)).json()) as {
          probes: { done: number; skipped: number }
          recent: ProbeReport[]
        }
        reports = status.recent
        done = status.probes.done
        return status.probes.done + status.probes.skipped >= SPECS.length
      },
      { what: 'one probe per relay', timeoutMs: 150_000, intervalMs: 1000 },
    ).catch(err => {
      throw new Error(`${err.message}: the witness finished ${done}: ${JSON.stringify(witnessLog())}`)
    })
  })

  after(async () => {
    children.killAll()
    await Promise.all(hosts.map(h => h.stop()))
    if (work) rmSync(work, { recursive: true, force: true })
  })

  const reportOf = (name: string): ProbeReport => {
    const report = reports.find(r => names.get(r.relay) === name)
    assert.ok(report, `no probe of ${name}`)
    return report
  }
  const capacity = (r: ProbeReport) => (r.outcome === 'ok' ? Math.min(r.forwardBps, r.reverseBps) : 0)

  it('attests each capped relay within 10% of its cap', () => {
    const rows = SPECS.filter(s => s.name.startsWith('capped')).map(s => {
      const r = reportOf(s.name)
      return { relay: s.name, cap: s.cap as number, r, measured: capacity(r) }
    })
    console.log('      relay        true MB/s  measured MB/s  error   (forward / reverse MB/s, helper)')
    for (const row of rows) {
      const error = (row.measured - row.cap) / row.cap
      console.log(
        `      ${row.relay.padEnd(12)} ${(row.cap / MB).toFixed(2).padStart(9)}  ${(row.measured / MB).toFixed(2).padStart(13)}  ${(100 * error).toFixed(1).padStart(5)}%   (${(row.r.forwardBps / MB).toFixed(2)} / ${(row.r.reverseBps / MB).toFixed(2)}, ${names.get(row.r.helper)})`,
      )
    }
    for (const row of rows) {
      assert.equal(row.r.outcome, 'ok', `${row.relay}: ${row.r.outcome}`)
      assert.ok(
        Math.abs(row.measured - row.cap) / row.cap < 0.1,
        `${row.relay}: measured ${row.measured} B/s`,
      )
    }
  })

  it('gives a relay that favours the witnesses nothing for it: probes reach it through helpers', async () => {
    const report = reportOf('favours-witnesses')
    const attested = capacity(report)
    // what the relay would have shown a witness that tunnels to it directly
    const dir = join(work, 'control')
    mkdirSync(dir)
    const identity = createIdentity(dir, control)
    const host = await createHost({ local: true, networkId: network.id, privateKey: identity.libp2pKey })
    hosts.push(host)
    const sink = await ProbeSink.listen()
    const rogue = multiaddr(addresses.get('favours-witnesses') as string)
    const direct = await runProbe(
      signal => openCircuit(host, network.id, [rogue], { host: sink.host, port: sink.port }, { signal }),
      sink,
      network.probe,
    )
    await sink.close()
    const directCapacity = Math.min(direct.forwardBps, direct.reverseBps)
    console.log(
      `      favours-witnesses: attested ${(attested / MB).toFixed(2)} MB/s (cap 1); a direct tunnel from a favoured peer got ${(directCapacity / MB).toFixed(2)} MB/s`,
    )
    assert.equal(direct.outcome, 'ok')
    assert.ok(directCapacity > 2 * MB, `the rogue relay favours direct tunnels: ${JSON.stringify(direct)}`)
    assert.ok(Math.abs(attested - MB) / MB < 0.1, `attested for a 1 MB/s relay: ${JSON.stringify(report)}`)
  })

  it('attests a relay that flips bits as corrupt, with no capacity', () => {
    const r = reportOf('flips-bits')
    assert.equal(r.outcome, 'corrupt')
    assert.equal(capacity(r), 0)
    assert.equal(r.forwardBps, 0)
  })
})
