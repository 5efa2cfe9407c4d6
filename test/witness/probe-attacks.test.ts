import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir, loadDataDir, writeNetworkFile } from '../../node/host/datadir.ts'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { epochStart, graceEnd } from '../../protocol/epoch.ts'
import {
  type NetworkDefinition,
  networkDefinitionToJson,
  parseNetworkDefinition,
} from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { witnessIndex } from '../../protocol/validate.ts'
import { PROBE_CIRCUITS, type ProbeReport } from '../../witness/witness.ts'
import { waitFor } from '../helpers/wait.ts'
import { type GossipNode, gossipNode } from './nodes.ts'
import { Children, relayListen } from './processes.ts'
import { witnessTestNetwork } from './test-network.ts'

const MB = 1_000_000

interface Spec {
  name: string
  /** --max-bandwidth, bytes/s */
  cap: number
  /** how it treats a hop request as a circuit's first relay (rogue-relay.ts); honest when absent */
  hop?: 'fail' | 'forge-refused'
  /** run as rogue-relay.ts (honest unless `hop` says otherwise), recording what its tunnels show */
  record?: boolean
}

// One witness probes one honest 1 MB/s relay (a small rate, which a loaded machine still carries) in two
// epochs. Its possible helpers are three eligible relays, all with certified figures from epoch 0: two
// rogues fast enough to be chosen first (one answers every hop request 'hop-failed', one forges the
// target's reply as 'refused') and one honest relay that is not (under twice the target's cap), so the
// witness can reach it only after trying both rogues.
// Every relay records the identity and message sizes of every tunnel it carries.
const SPECS: Spec[] = [
  { name: 'target', cap: 1 * MB, record: true },
  { name: 'hop-fails', cap: 10 * MB, hop: 'fail', record: true },
  { name: 'forges-refused', cap: 10 * MB, hop: 'forge-refused', record: true },
  { name: 'honest-helper', cap: 1_900_000, record: true },
]
const EPOCHS = [0, 1]

describe('witness against rogue helpers, with probes nobody can single out', function () {
  this.timeout(180_000)
  const children = new Children()
  let work: string
  let network: NetworkDefinition
  const peerOf = new Map<string, string>()
  const nameOf = (peerId: string) =>
    [...peerOf].find(([, p]) => p === peerId)?.[0] ?? (peerId === witnessPeer ? 'the witness' : peerId)
  let witnessPeer: string
  let witnessLog = ''
  let reports: ProbeReport[] = []
  let gossip: GossipNode | undefined

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-probe-attacks-'))
    const made = witnessTestNetwork(join(work, 'net'), { witnesses: 2, epochSeconds: 30, graceSeconds: 15 })
    const witness = loadDataDir(made.witnessDirs[0] as string).identity
    const certifier = loadDataDir(made.witnessDirs[1] as string).identity
    witnessPeer = witness.peerId
    const keys = SPECS.map(() => generateEd25519())
    const relayBytes = keys.map(k => peerIdOfPublicKey(k.publicKey))
    for (const [i, spec] of SPECS.entries())
      peerOf.set(spec.name, peerIdToString(relayBytes[i] as Uint8Array))
    // A genesis seed under which, in epochs 0 and 1, our witness is assigned the target alone and the
    // other witness (whose attestations certify the helpers' capacities) every helper.
    const base = {
      ...networkDefinitionToJson(made.network),
      // The helpers' figures must be certified (accepted in epoch 0) before epoch 1, whose probe the test
      // judges: on a machine with a load average of 35 that took 70 s from here.
      genesis: Date.now() + 50_000,
      // 4 s windows (one 2 s window past its 1 s warm-up read a shaped relay 13% high) and a generous
      // timeout: on a loaded machine a probe's own connection and two 2 s windows took over 8 s
      probe: { windowSeconds: 4, warmupSeconds: 1, timeoutSeconds: 20 },
      relays: SPECS.map(s => ({ peerId: peerOf.get(s.name) as string, payout: `0x${'ab'.repeat(20)}` })),
    }
    for (;;) {
      network = parseNetworkDefinition({ ...base, genesisSeed: `0x${randomBytes(32).toString('hex')}` })
      const w = witnessIndex(network, witness.peerIdBytes)
      const t = witnessIndex(network, certifier.peerIdBytes)
      const assigned = (e: number, relay: Uint8Array) =>
        assignedWitnessIndices(epochSeed(network, e, undefined) as Uint8Array, relay, 2, 1)[0]
      const wanted = EPOCHS.every(e =>
        SPECS.every((s, i) => assigned(e, relayBytes[i] as Uint8Array) === (s.name === 'target' ? w : t)),
      )
      if (wanted) break
    }
    writeNetworkFile(join(made.witnessDirs[0] as string, 'network.json'), network)

    const addresses = new Map<string, string>()
    const start = async (spec: Spec, i: number, bootstrap: string[]) => {
      const dir = join(work, spec.name)
      initDataDir(dir, network, { payout: `0x${'ab'.repeat(20)}` }, keys[i])
      const boot = bootstrap.flatMap(b => ['--bootstrap', b])
      const env: Record<string, string> = { WEIR_TEST_RECORD: join(work, `${spec.name}.jsonl`) }
      if (spec.hop) env.WEIR_TEST_HOP = spec.hop
      const info = spec.record
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
            ].concat(boot),
            env,
          )
        : await children.weir<{ addresses: string[] }>(
            [
              'relay',
              '--dir',
              dir,
              '--listen',
              relayListen(i),
              '--allow-private-exits',
              '--max-bandwidth',
              `${spec.cap}B/s`,
            ].concat(boot),
          )
      addresses.set(spec.name, info.addresses[0] as string)
    }
    // the relays start side by side and learn of each other through the witness (its DHT and gossip)
    // when each step of the setup was done, in seconds from genesis
    const steps: string[] = []
    const done = (step: string) => steps.push(`${step} ${((Date.now() - network.genesis) / 1000).toFixed(1)}`)
    await Promise.all(SPECS.map((spec, i) => start(spec, i, [])))
    done('relays up')
    const started = await children.weir<{ status: string; addresses: string[] }>([
      'witness',
      '--dir',
      made.witnessDirs[0] as string,
      '--status',
      '127.0.0.1:0',
      '--concurrency',
      '1',
      ...[...addresses.values()].flatMap(a => ['--bootstrap', a]),
    ])
    done('witness up')
    const status = async () =>
      (await (await fetch(`http://${started.status}/status`)).json()) as {
        probes: { done: number; skipped: number }
        topic: { accept: number }
        recent: ProbeReport[]
      }

    // The other witness's epoch-0 attestations certify the helpers' capacities (their caps), through
    // the attestations topic like any witness's.
    const node = await gossipNode(network.id)
    gossip = node
    const topicName = `weir/${network.id}/attestations/1`
    node.services.pubsub.subscribe(topicName)
    await node.dial(multiaddr(started.addresses[0] as string))
    await waitFor(
      () => node.services.pubsub.getSubscribers(topicName).some(p => p.toString() === witnessPeer),
      { what: 'the witness on the attestations topic', timeoutMs: 30_000 },
    )
    done('witness subscribed')
    while (Date.now() < network.genesis + 500) await new Promise(r => setTimeout(r, 100))
    for (const spec of SPECS.filter(s => s.name !== 'target')) {
      const attestation = signAttestation(
        {
          net: network.id,
          epoch: 0,
          relay: relayBytes[SPECS.indexOf(spec)] as Uint8Array,
          witness: certifier.peerIdBytes,
          helper: relayBytes[0] as Uint8Array,
          startedAt: Date.now() - 5000,
          durationMs: 5000,
          bytes: 4 * spec.cap,
          forwardBps: spec.cap,
          reverseBps: spec.cap,
          rttMs: 1,
          outcome: 'ok',
        },
        certifier.key.seed,
      )
      await node.services.pubsub.publish(topicName, encodeAttestation(attestation))
    }
    const accepted = Date.now() + 10_000
    while ((await status()).topic.accept < SPECS.length - 1) {
      if (Date.now() > accepted)
        throw new Error(
          `the witness did not accept the certifying attestations (s from genesis: ${steps.join(', ')}): ` +
            JSON.stringify((await status()).topic),
        )
      await new Promise(r => setTimeout(r, 200))
    }
    done('accepted')
    assert.ok(
      Date.now() < epochStart(network, 1),
      `setup too slow: epoch 1 began before its certified figures (s from genesis: ${steps.join(', ')})`,
    )

    // one probe of the target per epoch
    const deadline = graceEnd(network, 1) + 5000
    for (;;) {
      const s = await status()
      reports = s.recent
      if (s.probes.done + s.probes.skipped >= EPOCHS.length) break
      if (Date.now() > deadline) throw new Error(`the witness finished only ${s.probes.done} probes`)
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    witnessLog = [...children.stderr].find(([args]) => / witness --dir /.test(args))?.[1] ?? ''
  })

  after(async () => {
    children.killAll()
    await gossip?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('reads an honest target within 10% of its cap though two of its three helpers lie', () => {
    const target = peerOf.get('target') as string
    for (const epoch of EPOCHS) {
      const r = reports.find(x => x.epoch === epoch && x.relay === target)
      assert.ok(r, `epoch ${epoch}: no probe of the target attested`)
      const capacity = r.outcome === 'ok' ? Math.min(r.forwardBps, r.reverseBps) : 0
      console.log(
        `      epoch ${epoch}: ${r.outcome}, ${(capacity / MB).toFixed(2)} MB/s (cap 1), via ${nameOf(r.helper)}`,
      )
      assert.equal(
        r.outcome,
        'ok',
        `epoch ${epoch}: the target was attested '${r.outcome}' via ${nameOf(r.helper)}`,
      )
      assert.ok(Math.abs(capacity - MB) / MB < 0.1, `epoch ${epoch}: ${JSON.stringify(r)}`)
    }
    // in epoch 1 helpers are chosen by certified capacity, and both rogues (the faster) come first
    const attempts = witnessLog.split('\n').filter(l => l.includes(`epoch 1: probing ${target} via`))
    for (const line of attempts) console.log(`      ${line.replaceAll(/12D3KooW\w+/g, p => nameOf(p))}`)
    assert.ok(
      attempts.every(l => l.includes('certified capacity')),
      attempts.join('\n'),
    )
    for (const rogue of ['hop-fails', 'forges-refused']) {
      assert.ok(
        attempts.some(l => l.includes(`via ${peerOf.get(rogue)}`)),
        `${rogue} was not chosen: ${attempts.join('\n')}`,
      )
    }
  })

  it('enters the network from a fresh identity per probe, with no message of a fixed size', () => {
    const seen = (name: string) => {
      const file = join(work, `${name}.jsonl`)
      if (!existsSync(file)) return []
      return readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map(l => ({
          helper: name,
          ...(JSON.parse(l) as { remotePeer: string; sizes: number[] }),
        }))
    }
    const helpers = ['hop-fails', 'forges-refused', 'honest-helper']
    const atHelpers = helpers.flatMap(seen)
    const atTarget = seen('target')
    const show = (ts: typeof atTarget) => ts.map(t => `${nameOf(t.remotePeer)} ${t.sizes}`).join('; ')
    console.log(`      helpers saw: ${show(atHelpers)}`)
    console.log(`      target saw: ${show(atTarget)}`)
    for (const t of atHelpers) assert.notEqual(t.remotePeer, witnessPeer, 'a helper saw the witness itself')
    // an identity carries one probe attempt: its forward and reverse circuits, through one helper
    const uses = new Map<string, typeof atHelpers>()
    for (const t of atHelpers) uses.set(t.remotePeer, [...(uses.get(t.remotePeer) ?? []), t])
    for (const [identity, tunnels] of uses) {
      const where = new Set(tunnels.map(t => t.helper))
      assert.ok(
        where.size === 1 && tunnels.length <= 2 * PROBE_CIRCUITS,
        `${identity} carried ${show(tunnels)} at ${[...where]}`,
      )
    }
    // epoch 1 went through all three helpers; epoch 0 through at least one
    assert.ok(uses.size >= 4, `${uses.size} identities for the probe attempts of two epochs`)
    // the target sees only relays (the helpers), never the witness or a probe's identity
    assert.ok(atTarget.length >= 2 * EPOCHS.length, `${atTarget.length} tunnels at the target`)
    for (const t of atTarget) assert.ok(helpers.includes(nameOf(t.remotePeer)), nameOf(t.remotePeer))
    const varies = (what: string, sizes: Array<number | undefined>) =>
      assert.ok(sizes.length > 1 && new Set(sizes).size > 1, `every ${what} had ${sizes[0]} bytes`)
    varies(
      'hop request at a helper',
      atHelpers.map(t => t.sizes[0]),
    )
    // Through the honest helper: the hop request, then the client's channel to the target (Noise): its
    // first handshake message, the same 34 bytes in every 2-hop circuit, a user's as a probe's; then its
    // third and the request for the target inside the channel (one message or two as they arrive).
    const carried = atHelpers.filter(t => t.sizes.length === 4)
    varies(
      'hop request carried through a helper to the target',
      carried.map(t => t.sizes[0]),
    )
    for (const t of carried) assert.equal(t.sizes[1], 34, `the channel's first message: ${t.sizes}`)
    varies(
      'message after the channel handshake carried through a helper to the target',
      carried.map(t => (t.sizes[2] ?? 0) + (t.sizes[3] ?? 0)),
    )
    varies(
      'first message at the target',
      atTarget.map(t => t.sizes[0]),
    )
  })
})
