// `npm run bench -- probe-identity [ROUNDS]`: what a fresh identity per probe costs the witness. Each
// round opens a tunnel through one local relay to a local TCP listener and closes it, either from the
// witness's long-lived host (baseline: the connection is reused) or from a new dial-only node with a new
// Ed25519 key (a new connection, Noise handshake and identify each time), as witness/circuit.ts does
// for every probe attempt. Prints wall and CPU milliseconds per round; last line: one JSON object.
import { createServer } from 'node:net'
import { loadavg } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createDialer, createHost } from '../node/host/host.ts'
import { Meter } from '../node/relay/meter.ts'
import { TunnelServer } from '../node/relay/tunnel-server.ts'
import { openCircuit, type TunnelDialer } from '../node/tunnel/client.ts'

const NET = 'bench-probe-identity'

export async function main(args: string[]): Promise<void> {
  const rounds = Number(args[0] ?? 100)
  const sink = createServer(socket => socket.on('error', () => {}).end())
  await new Promise<void>(resolve => sink.listen(0, '127.0.0.1', resolve))
  const port = (sink.address() as { port: number }).port
  const relayKey = await generateKeyPair('Ed25519')
  const relay = await createHost({
    local: true,
    networkId: NET,
    privateKey: relayKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  await new TunnelServer(relay, {
    networkId: NET,
    privateKey: relayKey,
    meter: new Meter(),
    resolveExit: async () => ({ ok: true, address: '127.0.0.1', family: 4 }),
    mayDial: () => true,
  }).start()
  const witness = await createHost({
    local: true,
    networkId: NET,
    privateKey: await generateKeyPair('Ed25519'),
    listen: [],
  })
  const at = relay.getMultiaddrs()[0]
  if (at === undefined) throw new Error('the relay has no address')
  const tunnel = async (from: TunnelDialer) => {
    const circuit = await openCircuit(from, NET, [at], { host: '127.0.0.1', port })
    circuit.destroy()
  }
  const measure = async (round: () => Promise<void>) => {
    await round()
    const wall = performance.now()
    const cpu = process.cpuUsage()
    for (let i = 0; i < rounds; i++) await round()
    const used = process.cpuUsage(cpu)
    return {
      wallMs: (performance.now() - wall) / rounds,
      cpuMs: (used.user + used.system) / 1000 / rounds,
    }
  }
  try {
    const reused = await measure(() => tunnel(witness))
    const fresh = await measure(async () => {
      const dialer = await createDialer(await generateKeyPair('Ed25519'))
      try {
        await tunnel(dialer)
      } finally {
        await dialer.stop()
      }
    })
    const row = (name: string, m: { wallMs: number; cpuMs: number }) =>
      console.log(
        `${name.padEnd(34)} ${m.wallMs.toFixed(1).padStart(7)} ms wall ${m.cpuMs.toFixed(1).padStart(7)} ms CPU`,
      )
    console.log(
      `${rounds} rounds, load average ${loadavg()[0]?.toFixed(1)} (relay, witness and sink in this process)`,
    )
    row('tunnel from the witness host', reused)
    row('tunnel from a fresh identity', fresh)
    console.log(
      `a fresh identity costs ${(fresh.wallMs / reused.wallMs).toFixed(1)}x the wall time of a reused host`,
    )
    console.log(JSON.stringify({ rounds, reused, fresh }))
  } finally {
    await Promise.all([witness.stop(), relay.stop()])
    sink.close()
  }
}
