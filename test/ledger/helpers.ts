import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, topic } from '../../node/host/host.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { readNetworkFile, writeNetworkFile } from '../../node/host/datadir.ts'
import { loadIdentity } from '../../node/host/identity.ts'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { parseHex, to0x } from '../../protocol/bytes.ts'
import { epochStart } from '../../protocol/epoch.ts'
import type { Address, NetworkDefinition } from '../../protocol/network.ts'
import { peerIdFromString, peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { epochSeed } from '../../protocol/seed.ts'

const BIN = new URL('../../bin/weir.js', import.meta.url).pathname

export interface TestNetwork {
  dir: string
  network: NetworkDefinition
  ledgerDirs: string[]
  /** witness PeerId string → Ed25519 seed */
  witnessSeeds: Map<string, Uint8Array>
  relays: { peerId: string; relay: Uint8Array; payout: Address; seed: Uint8Array }[]
  cleanup(): void
}

/**
 * `weir network new` in a temp dir, then the given number of genesis relays added to every copy; genesis
 * is `genesisInMs` after the network is made.
 */
export function makeNetwork(o: {
  committee: number
  witnesses: number
  epochSeconds: number
  graceSeconds: number
  relays: number
  genesisInMs: number
}): TestNetwork {
  const dir = mkdtempSync(join(tmpdir(), 'weir-ledger-'))
  const out = join(dir, 'net')
  execFileSync(
    process.execPath,
    [
      BIN,
      'network',
      'new',
      '--out',
      out,
      '--committee',
      String(o.committee),
      '--witnesses',
      String(o.witnesses),
      '--epoch-seconds',
      String(o.epochSeconds),
      '--grace-seconds',
      String(o.graceSeconds),
      '--genesis',
      String(Date.now() + o.genesisInMs),
    ],
    { stdio: 'pipe' },
  )
  const relays = Array.from({ length: o.relays }, () => {
    const key = generateEd25519()
    const relay = peerIdOfPublicKey(key.publicKey)
    return { peerId: peerIdToString(relay), relay, payout: to0x(randomBytes(20)) as Address, seed: key.seed }
  })
  const ledgerDirs = Array.from({ length: o.committee }, (_, i) => join(out, `ledger-${i + 1}`))
  const witnessDirs = Array.from({ length: o.witnesses }, (_, i) => join(out, `witness-${i + 1}`))
  const network = readNetworkFile(join(out, 'network.json'))
  network.relays = relays.map(r => ({ peerId: r.peerId, payout: r.payout }))
  // counted from now: making the network may take seconds on a loaded machine
  network.genesis = Date.now() + o.genesisInMs
  for (const d of [out, ...ledgerDirs, ...witnessDirs]) writeNetworkFile(join(d, 'network.json'), network)
  const witnessSeeds = new Map(
    witnessDirs.map(d => {
      const id = loadIdentity(d)
      return [id.peerId, id.key.seed] as const
    }),
  )
  return {
    dir,
    network: readNetworkFile(join(out, 'network.json')),
    ledgerDirs,
    witnessSeeds,
    relays,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
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
  program: string[] = [BIN, 'ledger'],
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
  t: TestNetwork | undefined,
  ledgers: LedgerProcess[],
  peers: ({ stop(): unknown } | undefined)[],
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  await Promise.allSettled(peers.map(p => p?.stop()))
  await Promise.all(ledgers.map(l => stopLedger(l, signal)))
  t?.cleanup()
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.json() }
}

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

export async function waitForCertificate(l: LedgerProcess, epoch: number, timeoutMs: number) {
  return waitFor(`certificate of epoch ${epoch} at ${l.api}`, timeoutMs, async () => {
    const r = await getJson(`${l.api}/epochs/${epoch}/certificate`)
    return r.status === 200 ? r.body : undefined
  })
}

export async function waitForEpochStart(network: NetworkDefinition, epoch: number, afterMs = 100) {
  const wait = epochStart(network, epoch) + afterMs - Date.now()
  if (wait > 0) await sleep(wait)
}

/** The seed of an epoch as a witness learns it: genesis for 0 and 1, else from a ledger's certificate. */
export async function seedFor(net: NetworkDefinition, epoch: number, api?: string): Promise<Uint8Array> {
  if (epoch < 2) return epochSeed(net, epoch, undefined) as Uint8Array
  const cert = (await getJson(`${api}/epochs/${epoch - 2}/certificate`)).body
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
  relays: TestNetwork['relays'],
  capacity: (relayIndex: number, witnessIndex: number) => number,
  variant = 0,
): Uint8Array[] {
  const net = t.network
  const out: Uint8Array[] = []
  relays.forEach((r, ri) => {
    const helper = t.relays[(t.relays.indexOf(r) + 1) % t.relays.length] as TestNetwork['relays'][number]
    for (const w of assignedWitnessIndices(seed, r.relay, net.witnesses.length, net.witnessesPerRelay)) {
      const witness = net.witnesses[w] as string
      const bps = capacity(ri, w)
      const a = signAttestation(
        {
          net: net.id,
          epoch,
          relay: r.relay,
          witness: peerIdFromString(witness),
          helper: helper.relay,
          startedAt: epochStart(net, epoch) + 10 + variant,
          durationMs: 8000,
          bytes: bps * 8,
          forwardBps: bps,
          reverseBps: bps + 1,
          rttMs: 5,
          outcome: 'ok',
        },
        t.witnessSeeds.get(witness) as Uint8Array,
      )
      out.push(encodeAttestation(a))
    }
  })
  return out
}

/** A bare libp2p node for tests: publishes like a witness or relay would, on the network's topics. */
export async function testPeer(net: NetworkDefinition, dial: string[]) {
  const host = await createHost({ networkId: net.id, privateKey: await generateKeyPair('Ed25519') })
  await Promise.all(dial.map(a => host.dial(multiaddr(a))))
  for (const name of ['attestations', 'relays', 'votes']) host.services.pubsub.subscribe(topic(net.id, name))
  const peer = {
    host,
    /** waits until `n` peers are subscribed to every topic */
    async ready(n: number) {
      await waitFor('gossip subscribers', 30_000, async () =>
        ['attestations', 'relays', 'votes'].every(
          name => host.services.pubsub.getSubscribers(topic(net.id, name)).length >= n,
        )
          ? true
          : undefined,
      )
    },
    /** Publishes at most 5,000 messages a second: gossipsub has no backpressure of its own. */
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
