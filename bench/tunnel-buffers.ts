// `npm run bench -- tunnel-buffers [SECONDS]`: how many bytes one tunnel makes a relay hold in its
// buffers (the tunnel server's own count, sampled every 50 ms; peak over SECONDS, 8 by default) when
// the two sides of the relay run at different speeds: a client sending as fast as the tunnel takes
// bytes into a relay capped at 1 MB/s, the same into an uncapped relay whose exit target never reads,
// and a capped download. This sizes the relay's buffer budget. Last line: one JSON object.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import type { PrivateKey } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { createHost } from '../node/host/host.ts'
import { Meter } from '../node/relay/meter.ts'
import { TokenBucket } from '../node/relay/token-bucket.ts'
import { TunnelServer } from '../node/relay/tunnel-server.ts'
import { openTunnelStream } from '../node/tunnel/client.ts'
import { decodeReply, encodeRequest } from '../node/tunnel/wire.ts'

const NET = 'bench-buffers'
const MiB = 1024 * 1024
const CHUNK = randomBytes(256 * 1024)

interface Scenario {
  name: string
  capBps?: number
  /** The exit target: 'read' reads everything, 'stall' never reads, 'send' sends as fast as it can. */
  target: 'read' | 'stall' | 'send'
}

const SCENARIOS: Scenario[] = [
  { name: 'upload into a 1 MB/s relay', capBps: 1e6, target: 'read' },
  { name: 'upload to a target that never reads', target: 'stall' },
  { name: 'download from a 1 MB/s relay', capBps: 1e6, target: 'send' },
]

export async function main(args: string[]): Promise<void> {
  const seconds = Number(args[0] ?? 8)
  const peaks: Record<string, number> = {}
  for (const scenario of SCENARIOS) {
    const peak = await run(scenario, seconds)
    peaks[scenario.name] = peak
    console.log(`${scenario.name.padEnd(40)} peak ${(peak / MiB).toFixed(1)} MiB held by the relay`)
  }
  console.log(
    JSON.stringify({
      bench: 'tunnel-buffers',
      seconds,
      peakMiB: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Number((v / MiB).toFixed(1))])),
    }),
  )
}

async function run(scenario: Scenario, seconds: number): Promise<number> {
  const newHost = async (privateKey: PrivateKey) =>
    createHost({ local: true, networkId: NET, privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const relayKey = await generateKeyPair('Ed25519')
  const [relay, client] = [await newHost(relayKey), await newHost(await generateKeyPair('Ed25519'))]
  const server = new TunnelServer(relay, {
    networkId: NET,
    privateKey: relayKey,
    meter: new Meter(),
    resolveExit: async () => ({ ok: true, address: '127.0.0.1', family: 4 }),
    mayDial: () => false,
    limits: { maxBufferBytes: Number.MAX_SAFE_INTEGER },
    bucket: scenario.capBps === undefined ? undefined : new TokenBucket(scenario.capBps),
  })
  await server.start()
  const target = createServer((socket: Socket) => {
    socket.on('error', () => {})
    if (scenario.target === 'read') socket.resume()
    if (scenario.target === 'send') {
      const pump = () => {
        while (!socket.destroyed && socket.write(CHUNK));
      }
      socket.on('drain', pump)
      pump()
    }
  })
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  const port = (target.address() as { port: number }).port
  let peak = 0
  const sampler = setInterval(() => {
    peak = Math.max(peak, server.bufferedBytes)
  }, 50)
  try {
    const stream = await openTunnelStream(client, relay.getMultiaddrs()[0]!, NET)
    const lp = lpStream(stream)
    await lp.write(encodeRequest({ kind: 'exit', host: '127.0.0.1', port }))
    if (decodeReply((await lp.read()).subarray()) !== 'ok') throw new Error('tunnel refused')
    const tunnel = lp.unwrap()
    const deadline = performance.now() + seconds * 1000
    if (scenario.target === 'send') {
      tunnel.addEventListener('message', () => {})
      await new Promise(r => setTimeout(r, seconds * 1000))
    } else {
      while (performance.now() < deadline && tunnel.status === 'open') {
        if (tunnel.send(CHUNK)) continue
        const left = deadline - performance.now()
        await Promise.race([
          once(tunnel, 'drain'),
          once(tunnel, 'close'),
          new Promise(r => setTimeout(r, left)),
        ])
      }
    }
    tunnel.abort(new Error('bench done'))
  } finally {
    clearInterval(sampler)
    target.close()
    await server.stop()
    await Promise.all([relay.stop(), client.stop()])
  }
  return peak
}
