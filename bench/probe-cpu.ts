// `npm run bench -- probe-cpu [TARGET_MBPS] [HELPERS_MBPS] [ROUNDS]` (defaults 20, 20,15.3 and 3): what a
// probe's forward window costs the machine as a function of the bytes it keeps in flight per lane.
// Real `weir relay` processes (a capped target and capped helpers, one lane through each) on loopback; the
// probe runs here, as a witness runs it. For each bound (1, 4 and 16 MiB, 4 MiB being IN_FLIGHT_BYTES)
// it prints the readings and the CPU seconds per probe of the relays and of this process, and the total
// as a ratio to the 4 MiB bound. Last line: one JSON object.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir } from '../node/host/datadir.ts'
import { createDialer } from '../node/host/host.ts'
import { createLocalNetwork } from '../node/host/local-network.ts'
import { openCircuit } from '../node/tunnel/client.ts'
import { generateEd25519 } from '../protocol/ed25519.ts'
import { networkDefinitionToJson, parseNetworkDefinition } from '../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../protocol/peer.ts'
import { Supervisor } from '../simulations/testnet/supervisor.ts'
import { relayListen } from '../simulations/testnet/testnet.ts'
import { IN_FLIGHT_BYTES } from '../witness/payload.ts'
import { runProbe } from '../witness/probe.ts'
import { ProbeSink } from '../witness/sink.ts'

const MB = 1e6
const MiB = 1024 * 1024
const PARAMS = { windowSeconds: 3, warmupSeconds: 1, timeoutSeconds: 12 }

/** CPU seconds a process has used (Linux /proc), 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

async function startRelays(work: string, caps: number[], supervisor: Supervisor) {
  const made = createLocalNetwork({
    out: join(work, 'net'),
    ...{ witnesses: 1, committee: 1, epochSeconds: 50, graceSeconds: 50, probeSeconds: 3 },
    ...{ witnessesPerRelay: 1, minAttestations: 1, eligibilityDelay: 0, emission: 1000n, chainId: 31337 },
    genesis: 0,
  })
  const keys = caps.map(() => generateEd25519())
  const peers = keys.map(k => peerIdToString(peerIdOfPublicKey(k.publicKey)))
  const network = parseNetworkDefinition({
    ...networkDefinitionToJson(made.network),
    relays: peers.map(peerId => ({ peerId, payout: `0x${'ab'.repeat(20)}` })),
  })
  const addrs: string[] = []
  for (const [i, cap] of caps.entries()) {
    const dir = join(work, `relay-${i}`)
    initDataDir(dir, network, { payout: `0x${'ab'.repeat(20)}` }, keys[i])
    const relay = await supervisor.start(`relay-${i}`, [
      ...['relay', '--dir', dir, '--listen', relayListen(i), '--allow-private-exits'],
      ...['--max-bandwidth', `${cap}B/s`, ...(addrs[0] ? ['--bootstrap', addrs[0]] : [])],
    ])
    addrs.push((relay.ready.addresses as string[])[0] as string)
  }
  return { network, peers, addrs, pids: supervisor.processes.flatMap(p => p.child.pid ?? []) }
}

export async function main(args: string[]): Promise<void> {
  const target = Number(args[0] ?? 20) * MB
  const helpers = (args[1] ?? '20,15.3').split(',').map(x => Number(x) * MB)
  const rounds = Number(args[2] ?? 3)
  const work = mkdtempSync(join(tmpdir(), 'weir-bench-probe-cpu-'))
  const supervisor = new Supervisor(work)
  const results: Record<string, { forward: number; reverse: number; relayCpu: number; witnessCpu: number }> =
    {}
  try {
    const { network, peers, addrs, pids } = await startRelays(work, [target, ...helpers], supervisor)
    const sink = await ProbeSink.listen('127.0.0.2', 0)
    const relaysCpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    const probe = async (inFlight: number) => {
      const dialer = await createDialer(await generateKeyPair('Ed25519'))
      for (const a of addrs) {
        const ma = multiaddr(a)
        await dialer.peerStore.merge(peerIdFromString(ma.getComponents().at(-1)?.value as string), {
          multiaddrs: [ma],
        })
      }
      const relays0 = relaysCpu()
      const own0 = process.cpuUsage()
      const circuit = (signal: AbortSignal, lane: number) =>
        openCircuit(
          dialer,
          network.id,
          [peerIdFromString(peers[lane + 1] as string), peerIdFromString(peers[0] as string)],
          { host: sink.host, port: sink.port },
          { signal },
        )
      const m = await runProbe(circuit, sink, PARAMS, { lanes: helpers.length, inFlightBytes: inFlight })
      const own = process.cpuUsage(own0)
      await dialer.stop()
      return { m, relayCpu: relaysCpu() - relays0, witnessCpu: (own.user + own.system) / 1e6 }
    }
    await probe(IN_FLIGHT_BYTES) // the first circuits set up the relays' connections: not counted
    for (const mib of [1, 4, 16]) {
      const runs: Awaited<ReturnType<typeof probe>>[] = []
      for (let i = 0; i < rounds; i++) runs.push(await probe(mib * MiB))
      const mean = (f: (r: (typeof runs)[number]) => number) =>
        runs.reduce((s, r) => s + f(r), 0) / runs.length
      results[`${mib}MiB`] = {
        forward: mean(r => r.m.forwardBps) / MB,
        reverse: mean(r => r.m.reverseBps) / MB,
        relayCpu: mean(r => r.relayCpu),
        witnessCpu: mean(r => r.witnessCpu),
      }
    }
    await sink.close()
  } finally {
    await supervisor.stopAll()
    rmSync(work, { recursive: true, force: true })
  }
  const base = results['4MiB'] as (typeof results)[string]
  const total = (r: typeof base) => r.relayCpu + r.witnessCpu
  console.log(`target ${target / MB} MB/s through helpers of ${helpers.map(h => h / MB).join(', ')} MB/s`)
  for (const [bound, r] of Object.entries(results))
    console.log(
      `${bound.padStart(6)} in flight: forward ${r.forward.toFixed(2)} MB/s, reverse ${r.reverse.toFixed(2)} MB/s; CPU per probe: relays ${r.relayCpu.toFixed(2)} s, witness ${r.witnessCpu.toFixed(2)} s; total ${(total(r) / total(base)).toFixed(2)}x the 4 MiB bound`,
    )
  console.log(JSON.stringify({ bench: 'probe-cpu', target, helpers, rounds, results }))
}
