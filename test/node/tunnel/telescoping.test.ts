import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { format } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ComponentLogger, Logger as Libp2pLogger, Stream, StreamHandler } from '@libp2p/interface'
import { createHost, type Host } from '../../../node/host/host.ts'
import { Logger } from '../../../node/host/log.ts'
import { RelayDashboard } from '../../../node/relay/relay-dashboard.ts'
import { Relay } from '../../../node/relay/relay.ts'
import { openCircuit } from '../../../node/tunnel/client.ts'
import { waitFor } from '../../helpers/wait.ts'

// What the first relay of a circuit learns about the destination: every byte its tunnel server reads
// and writes on its tunnel streams (after libp2p's own decryption), every line it logs (libp2p's debug
// logs at every level, and the relay's log) and what its meters report. Through two relays none of it
// names the destination; through this relay alone (the control) the bytes do.

const NET = 'telescoping-test'
const NAME = 'destination.weir-test'
// A loopback address of the destination's own, so that finding it means finding the destination.
const IP = '127.88.77.66'
const lookup = async (name: string) => (name === `${NAME}.` ? [{ address: IP, family: 4 }] : [])

/** A host whose tunnel streams and libp2p logs the test sees. */
interface Observed {
  host: Host
  relay: Relay
  dashboard: RelayDashboard
  /** bytes of the tunnel streams, both directions, as the tunnel server reads and writes them */
  bytes: Buffer[]
  logs: string[]
}

async function startRelay(observe: boolean): Promise<Observed> {
  const privateKey = await generateKeyPair('Ed25519')
  const logs: string[] = []
  const bytes: Buffer[] = []
  const host = await createHost({
    local: true,
    networkId: NET,
    privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    logger: observe ? recordingLogger(logs) : undefined,
  })
  if (observe) recordTunnelStreams(host, bytes)
  const relay = new Relay(host, { networkId: NET, privateKey, exitPolicy: { allowPrivate: true }, lookup })
  await relay.start()
  const log = new Logger({ role: 'relay', level: 'debug', write: line => logs.push(line) })
  const dashboard = new RelayDashboard(relay, { log })
  return { host, relay, dashboard, bytes, logs }
}

/** Every line logged, at every level, formatted. */
function recordingLogger(lines: string[]): ComponentLogger {
  const make = (name: string): Libp2pLogger =>
    Object.assign((fmt: unknown, ...args: unknown[]) => lines.push(`${name} ${format(fmt, ...args)}`), {
      enabled: true,
      error: (fmt: unknown, ...args: unknown[]) => lines.push(`${name}:error ${format(fmt, ...args)}`),
      trace: (fmt: unknown, ...args: unknown[]) => lines.push(`${name}:trace ${format(fmt, ...args)}`),
      newScope: (scope: string) => make(`${name}:${scope}`),
    })
  return { forComponent: make }
}

/**
 * Wraps the stream handler the relay registers, so each tunnel stream's messages (what the server reads)
 * and sends (what it writes) are copied here; the relay's code is the shipped code.
 */
function recordTunnelStreams(host: Host, bytes: Buffer[]): void {
  const handle = host.handle.bind(host)
  host.handle = (async (protocol: string, handler: StreamHandler, options) =>
    handle(
      protocol,
      (stream: Stream, connection) => {
        const dispatch = stream.dispatchEvent.bind(stream)
        stream.dispatchEvent = (evt: Event) => {
          const data = (evt as Event & { data?: { subarray(): Uint8Array } }).data
          if (evt.type === 'message' && data !== undefined) bytes.push(Buffer.from(data.subarray()))
          return dispatch(evt)
        }
        const send = stream.send.bind(stream)
        stream.send = data => {
          bytes.push(Buffer.from(data.subarray()))
          return send(data)
        }
        return handler(stream, connection)
      },
      options,
    )) as Host['handle']
}

/** The forms of the destination found in what relay A handled, logged and reported. */
async function found(a: Observed, port: number): Promise<string[]> {
  const carried = Buffer.concat(a.bytes)
  const text = [
    ...a.logs,
    JSON.stringify(a.relay.status()),
    JSON.stringify(a.dashboard.status()),
    await a.relay.metrics.metrics(),
  ].join('\n')
  const forms: string[] = []
  if (carried.includes(NAME)) forms.push('host name in the bytes')
  if (carried.includes(IP)) forms.push('IP address (text) in the bytes')
  if (carried.includes(Buffer.from([127, 88, 77, 66]))) forms.push('IP address (packed) in the bytes')
  if (carried.includes(Buffer.from([port >> 8, port & 0xff]))) forms.push('port (big-endian) in the bytes')
  if (text.includes(NAME)) forms.push('host name in the logs or meters')
  if (text.includes(IP)) forms.push('IP address in the logs or meters')
  if (new RegExp(`[:/]${port}\\b`).test(text)) forms.push('port in the logs or meters')
  return forms
}

describe('a 2-hop circuit hides the destination from the first relay', () => {
  let a: Observed
  let b: Observed
  let client: Host
  let target: Server
  let port: number

  before(async () => {
    ;[a, b] = await Promise.all([startRelay(true), startRelay(false)])
    client = await createHost({
      local: true,
      networkId: NET,
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
    })
    await b.host.dial(a.host.getMultiaddrs()[0]!)
    target = createServer({ allowHalfOpen: true }, socket => {
      socket.on('error', () => {})
      socket.resume()
      socket.on('end', () => socket.end('done'))
    })
    await new Promise<void>(resolve => target.listen(0, IP, resolve))
    port = (target.address() as { port: number }).port
  })

  after(async () => {
    target.close()
    await Promise.all([a.relay.stop(), b.relay.stop()])
    await Promise.all([a.host, b.host, client].map(h => h.stop()))
  })

  /** Opens a circuit to `host`, sends a little, reads the reply; returns what A's records show of it. */
  async function circuit(hops: 1 | 2, host: string): Promise<string[]> {
    a.bytes.length = 0
    a.logs.length = 0
    const relays = hops === 1 ? [a.host.getMultiaddrs()[0]!] : [a.host.getMultiaddrs()[0]!, b.host.peerId]
    const duplex = await openCircuit(client, NET, relays, { host, port })
    duplex.end('hello')
    let reply = ''
    for await (const chunk of duplex) reply += chunk
    assert.equal(reply, 'done')
    await waitFor(() => a.relay.meter.openTunnels === 0, { what: 'A to count the tunnel closed' })
    // the search is over something: A carried the circuit and logged while it did
    assert.ok(a.bytes.length > 0 && a.logs.length > 0)
    return found(a, port)
  }

  it('through A alone, A reads the destination (the control)', async () => {
    assert.deepEqual(await circuit(1, NAME), ['host name in the bytes', 'port (big-endian) in the bytes'])
    assert.deepEqual(await circuit(1, IP), [
      'IP address (text) in the bytes',
      'port (big-endian) in the bytes',
    ])
  })

  it('through A and B, A sees neither the name, the address nor the port', async () => {
    const seen = [await circuit(2, NAME), await circuit(2, IP)]
    for (const forms of seen) {
      assert.deepEqual(
        forms.filter(f => !f.startsWith('port (big-endian)')),
        [],
        `A found: ${forms.join(', ')}`,
      )
    }
    // Two given bytes turn up by chance about once in 50 circuits of this size (about 1.3 kB of
    // ciphertext); a port sent in the clear would turn up in every circuit.
    assert.ok(seen.filter(forms => forms.length > 0).length < 2, 'the port in the bytes of both circuits')
    assert.equal(b.relay.meter.tunnels, 2)
  })
})
