import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type * as v from 'valibot'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir } from '../../node/host/datadir.ts'
import { createHost, topic } from '../../node/host/host.ts'
import { createSecp256k1Key } from '../../node/host/identity.ts'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { parseHex } from '../../protocol/bytes.ts'
import { epochStart } from '../../protocol/epoch.ts'
import { certificateAnswer, parseAnswer } from '../../protocol/ledger-api.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdFromString } from '../../protocol/peer.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { type Relay, type TestNetwork, testNetwork } from '../helpers/network.ts'
import { sleep, waitFor } from '../helpers/wait.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

/** `weir` from the sources, under tsx */
const WEIR = nodeArgs(WEIR_ENTRY)

/** The committee fixture's network, with a data dir (identity and signer key) for each member. */
export interface LedgerNetwork extends TestNetwork {
  dir: string
  ledgerDirs: string[]
  cleanup(): void
}

/**
 * A network of fresh keys (its own label, so files running side by side never share a PeerId) whose
 * genesis is `genesisInMs` from now, and the members' data dirs in a temp dir.
 */
export function makeNetwork(o: {
  committee: number
  witnesses: number
  epochSeconds: number
  graceSeconds: number
  relays: number
  genesisInMs: number
}): LedgerNetwork {
  const dir = mkdtempSync(join(tmpdir(), 'weir-ledger-'))
  const id = `ledger-${randomBytes(4).toString('hex')}`
  const t = testNetwork({
    label: id,
    committee: o.committee,
    witnesses: o.witnesses,
    relays: o.relays,
    overrides: {
      id,
      genesis: Date.now() + o.genesisInMs,
      epochSeconds: o.epochSeconds,
      graceSeconds: o.graceSeconds,
    },
  })
  const ledgerDirs = t.members.map((m, i) => {
    const ledgerDir = join(dir, `ledger-${i + 1}`)
    initDataDir(ledgerDir, t.network, {}, m.party.key)
    createSecp256k1Key(join(ledgerDir, 'signer.key'), new Uint8Array(m.signerKey))
    return ledgerDir
  })
  return { ...t, dir, ledgerDirs, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface LedgerProcess {
  proc: ChildProcess
  dir: string
  peerId: string
  multiaddrs: string[]
  api: string
  signer: string
  stderr: string[]
}

/**
 * Starts `weir ledger` (or `program`, node's arguments to run another entry that takes its flags) and
 * waits for its first stdout line (its addresses).
 */
export async function startLedger(
  dir: string,
  bootstrap: string[] = [],
  program: string[] = [...WEIR, 'ledger'],
): Promise<LedgerProcess> {
  const args = [...program, '--dir', dir, '--signer-key', join(dir, 'signer.key'), '--api', '127.0.0.1:0']
  for (const b of bootstrap) args.push('--bootstrap', b)
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const stderr: string[] = []
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => stderr.push(d))
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    proc.once('exit', code => reject(new Error(`weir ledger exited ${code}: ${stderr.join('')}`)))
  })
  const info = JSON.parse(first)
  return {
    proc,
    dir,
    stderr,
    peerId: info.peerId,
    multiaddrs: info.addresses,
    api: `http://${info.api}`,
    signer: info.signer,
  }
}

/** Starts ledgers one after another, each bootstrapping to all started before it (a full mesh). */
export async function startLedgers(dirs: string[]) {
  const started: LedgerProcess[] = []
  for (const dir of dirs) {
    started.push(
      await startLedger(
        dir,
        started.flatMap(l => l.multiaddrs),
      ),
    )
  }
  return started
}

export async function stopLedger(
  l: LedgerProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (l.proc.exitCode !== null || l.proc.signalCode !== null) return l.proc.exitCode
  const exited = new Promise<number | null>(resolve => l.proc.once('exit', code => resolve(code)))
  l.proc.kill(signal)
  const timer = setTimeout(() => l.proc.kill('SIGKILL'), 5000)
  const code = await exited
  clearTimeout(timer)
  return code
}

/** After a test: stops whatever peers and ledgers it started, then removes its network dir. */
export async function tearDown(
  t: LedgerNetwork | undefined,
  ledgers: LedgerProcess[],
  peers: ({ stop(): unknown } | undefined)[],
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  await Promise.allSettled(peers.map(p => p?.stop()))
  await Promise.all(ledgers.map(l => stopLedger(l, signal)))
  t?.cleanup()
}

/** GET a ledger route: its status and, when 200, the answer checked against the route's schema. */
export async function getAnswer<S extends v.GenericSchema>(
  url: string,
  schema: S,
): Promise<{ status: number; body: v.InferOutput<S> | undefined }> {
  const res = await fetch(url)
  const json: unknown = await res.json()
  return { status: res.status, body: res.status === 200 ? parseAnswer(schema, json, url) : undefined }
}

export async function waitForCertificate(l: LedgerProcess, epoch: number, timeoutMs: number) {
  return waitFor(
    async () => (await getAnswer(`${l.api}/epochs/${epoch}/certificate`, certificateAnswer)).body,
    { what: `the certificate of epoch ${epoch} at ${l.api}`, timeoutMs, intervalMs: 200 },
  )
}

/** Waits for a moment on the network's clock: an epoch's start. */
export async function waitForEpochStart(network: NetworkDefinition, epoch: number, afterMs = 100) {
  const wait = epochStart(network, epoch) + afterMs - Date.now()
  if (wait > 0) await sleep(wait)
}

/** The seed of an epoch as a witness learns it: genesis for 0 and 1, else from a ledger's certificate. */
export async function seedFor(net: NetworkDefinition, epoch: number, api?: string): Promise<Uint8Array> {
  if (epoch < 2) return epochSeed(net, epoch, undefined) as Uint8Array
  const { body: cert } = await getAnswer(`${api}/epochs/${epoch - 2}/certificate`, certificateAnswer)
  if (!cert) throw new Error(`${api} holds no certificate of epoch ${epoch - 2}`)
  return epochSeed(net, epoch, {
    epoch: epoch - 2,
    contentRoot: parseHex(cert.contentRoot, 32) as Uint8Array,
    rewardsRoot: parseHex(cert.rewardsRoot, 32) as Uint8Array,
  }) as Uint8Array
}

/**
 * Signed attestations for the given relays in an epoch, one from each assigned witness, with capacities
 * drawn from `rand`; `variant` changes the claim (for equivocation tests).
 */
export function attestationsFor(
  t: TestNetwork,
  epoch: number,
  seed: Uint8Array,
  relays: readonly Relay[],
  capacity: (relayIndex: number, witnessIndex: number) => number,
  variant = 0,
): Uint8Array[] {
  const net = t.network
  const out: Uint8Array[] = []
  relays.forEach((r, ri) => {
    const helper = t.relays[(t.relays.indexOf(r) + 1) % t.relays.length] as Relay
    for (const w of assignedWitnessIndices(seed, r.peerId, net.witnesses.length, net.witnessesPerRelay)) {
      const witness = net.witnesses[w] as string
      const bps = capacity(ri, w)
      const a = signAttestation(
        {
          net: net.id,
          epoch,
          relay: r.peerId,
          witness: peerIdFromString(witness),
          helper: helper.peerId,
          startedAt: epochStart(net, epoch) + 10 + variant,
          durationMs: 8000,
          bytes: bps * 8,
          forwardBps: bps,
          reverseBps: bps + 1,
          rttMs: 5,
          outcome: 'ok',
        },
        t.witness(witness).key.seed,
      )
      out.push(encodeAttestation(a))
    }
  })
  return out
}

/** A bare libp2p node for tests: publishes like a witness or relay would, on the network's topics. */
export async function testPeer(net: NetworkDefinition, dial: string[]) {
  const host = await createHost({
    local: true,
    networkId: net.id,
    privateKey: await generateKeyPair('Ed25519'),
  })
  await Promise.all(dial.map(a => host.dial(multiaddr(a))))
  for (const name of ['attestations', 'relays', 'votes']) host.services.pubsub.subscribe(topic(net.id, name))
  const peer = {
    host,
    /** waits until `n` peers are subscribed to every topic */
    async ready(n: number) {
      await waitFor(
        () =>
          ['attestations', 'relays', 'votes'].every(
            name => host.services.pubsub.getSubscribers(topic(net.id, name)).length >= n,
          ),
        { what: `${n} gossip subscribers to every topic`, timeoutMs: 30_000 },
      )
    },
    /** Publishes at most 5,000 messages a second (a pace): gossipsub has no backpressure of its own. */
    async publish(name: 'attestations' | 'relays' | 'votes', items: Uint8Array[]) {
      for (const [i, item] of items.entries()) {
        await host.services.pubsub.publish(topic(net.id, name), item)
        if (i % 250 === 249) await sleep(50)
      }
    },
    stop: () => host.stop(),
  }
  return peer
}
