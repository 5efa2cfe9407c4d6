import { randomInt } from 'node:crypto'
import { BlockList, createServer, isIPv6, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Multiaddr } from '@multiformats/multiaddr'
import { toHex } from '../protocol/bytes.ts'
import { GoodputMeter } from './goodput.ts'
import {
  CHUNK_BYTES,
  type Direction,
  Keystream,
  PROBE_ID_BYTES,
  pumpKeystream,
  IN_FLIGHT_BYTES,
} from './payload.ts'

// The probe sink: the TCP listener a probe circuit exits to. A connection opens with a hello naming the
// probe (its unguessable id), the direction and the circuit (a probe runs several circuits through each
// of its helpers in parallel). Forward: the sink acknowledges, then checks every byte against the circuit's keystream and meters
// the goodput of all circuits together for one window, then cuts the connections. Reverse: the sink sends the
// circuit's keystream until the witness hangs up (the witness checks and meters).
//   hello = id(16) direction(1) circuit(1) padding        ack = 0x06 padding
//   padding = length(1) zero bytes(length), the length random: the relays carrying a probe see no
//   message of a fixed size.

/** The hello without its padding. */
export const HELLO_HEADER_BYTES = PROBE_ID_BYTES + 3
export const ACK = 0x06
const MAX_PADDING = 255
const HELLO_TIMEOUT_MS = 10_000
const DIRECTION_CODE: Record<Direction, number> = { forward: 1, reverse: 2 }

const randomPadding = (): number => randomInt(MAX_PADDING + 1)

export function encodeHello(
  id: Uint8Array,
  direction: Direction,
  circuit = 0,
  padding = randomPadding(),
): Uint8Array {
  const hello = new Uint8Array(HELLO_HEADER_BYTES + padding)
  hello.set(id)
  hello[PROBE_ID_BYTES] = DIRECTION_CODE[direction]
  hello[PROBE_ID_BYTES + 1] = circuit
  hello[PROBE_ID_BYTES + 2] = padding
  return hello
}

export function encodeAck(padding = randomPadding()): Uint8Array {
  const ack = new Uint8Array(2 + padding)
  ack[0] = ACK
  ack[1] = padding
  return ack
}

/**
 * The length of the padded message at the start of `bytes` whose padding length byte is at `at`:
 * undefined until all of it is there, -1 if the padding is not zeros.
 */
export function paddedLength(bytes: Uint8Array, at: number): number | undefined {
  const padding = bytes[at]
  if (padding === undefined || bytes.length < at + 1 + padding) return undefined
  for (let i = at + 1; i < at + 1 + padding; i++) if (bytes[i] !== 0) return -1
  return at + 1 + padding
}

/**
 * The listen address among `addresses` that `sinkHost` shares (the same IPv4 address, or the same IPv6
 * /64): a sink there would tell relays which circuits are a witness's probes.
 */
export function sharedAddress(sinkHost: string, addresses: Multiaddr[]): Multiaddr | undefined {
  const same = new BlockList()
  if (isIPv6(sinkHost)) same.addSubnet(sinkHost, 64, 'ipv6')
  else same.addAddress(sinkHost, 'ipv4')
  return addresses.find(a => {
    const ip = a.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
    return ip?.value !== undefined && same.check(ip.value, ip.name === 'ip6' ? 'ipv6' : 'ipv4')
  })
}

/** What the sink saw of a forward window. */
export interface WindowResult {
  samples: number[]
  /** verified payload bytes */
  bytes: number
  corrupt: boolean
  /** false when a connection ended before the window did */
  complete: boolean
  /** performance.now() of the window's first metered byte */
  startedAt?: number
}

export interface SinkProbe {
  /** Settles when the forward window is over, cut short, or found corrupt. */
  forward: Promise<WindowResult>
  /** Forward payload bytes of `circuit` verified so far (the sender's in-flight limit uses it). */
  received(circuit: number): number
  /** Forgets the probe and drops its connections. */
  release(): void
}

interface Registration {
  key: Uint8Array
  windowSeconds: number
  circuits: number
  inFlightBytes: number
  used: Set<string>
  sockets: Set<Socket>
  /** verified forward bytes per circuit; the window starts once every circuit has some */
  received: number[]
  /** the forward window, shared by the circuits */
  meter: GoodputMeter
  timer?: NodeJS.Timeout
  finish(corrupt: boolean, complete: boolean): void
}

export class ProbeSink {
  private readonly probes = new Map<string, Registration>()

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async listen(host = '127.0.0.1', port = 0): Promise<ProbeSink> {
    let sink: ProbeSink | undefined
    const server = createServer({ noDelay: true }, socket => sink?.accept(socket))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, resolve)
    })
    const bound = server.address() as AddressInfo
    sink = new ProbeSink(server, bound.address, bound.port)
    return sink
  }

  /**
   * Expects a probe's circuits; in its reverse window each circuit keeps at most `inFlightBytes` beyond
   * what the witness has acknowledged (payload.ts).
   */
  register(
    id: Uint8Array,
    key: Uint8Array,
    windowSeconds: number,
    circuits = 1,
    inFlightBytes = IN_FLIGHT_BYTES,
  ): SinkProbe {
    const name = toHex(id)
    const { promise, resolve } = Promise.withResolvers<WindowResult>()
    let done = false
    const registration: Registration = {
      key,
      windowSeconds,
      circuits,
      inFlightBytes,
      used: new Set(),
      sockets: new Set(),
      received: Array.from({ length: circuits }, () => 0),
      meter: new GoodputMeter(),
      finish: (corrupt, complete) => {
        if (done) return
        done = true
        clearTimeout(registration.timer)
        for (const socket of registration.sockets) socket.destroy()
        const { meter } = registration
        const bytes = registration.received.reduce((sum, n) => sum + n, 0)
        resolve({
          samples: meter.samples(windowSeconds),
          bytes,
          corrupt,
          complete,
          startedAt: meter.startedAt,
        })
      },
    }
    this.probes.set(name, registration)
    return {
      forward: promise,
      received: circuit => registration.received[circuit] ?? 0,
      release: () => {
        this.probes.delete(name)
        registration.finish(false, false)
        for (const socket of registration.sockets) socket.destroy()
      },
    }
  }

  async close(): Promise<void> {
    for (const name of [...this.probes.keys()]) {
      for (const socket of this.probes.get(name)?.sockets ?? []) socket.destroy()
    }
    this.probes.clear()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {})
    socket.setTimeout(HELLO_TIMEOUT_MS, () => socket.destroy())
    let buffered = Buffer.alloc(0)
    const onHello = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const length = paddedLength(buffered, HELLO_HEADER_BYTES - 1)
      if (length === undefined) return
      socket.off('data', onHello)
      socket.setTimeout(0)
      const registration = this.probes.get(toHex(buffered.subarray(0, PROBE_ID_BYTES)))
      const code = buffered[PROBE_ID_BYTES]
      const circuit = buffered[PROBE_ID_BYTES + 1] as number
      const direction = code === 1 ? 'forward' : code === 2 ? 'reverse' : undefined
      if (
        length < 0 ||
        !registration ||
        !direction ||
        circuit >= registration.circuits ||
        registration.used.has(`${direction}/${circuit}`)
      ) {
        socket.destroy()
        return
      }
      registration.used.add(`${direction}/${circuit}`)
      registration.sockets.add(socket)
      socket.once('close', () => registration.sockets.delete(socket))
      if (direction === 'forward') receiveForward(socket, registration, circuit, buffered.subarray(length))
      else sendReverse(socket, registration, circuit)
    }
    socket.on('data', onHello)
  }
}

function receiveForward(socket: Socket, probe: Registration, circuit: number, early: Buffer): void {
  const stream = new Keystream(probe.key, 'forward', circuit)
  const onData = (chunk: Buffer) => {
    if (chunk.length === 0) return
    if (!stream.matches(chunk)) return probe.finish(true, false)
    probe.received[circuit] = (probe.received[circuit] ?? 0) + chunk.length
    // The window starts once every circuit carries bytes: a circuit that came up later must not leave
    // part of the window to the others alone.
    if (probe.received.some(n => n === 0)) return
    probe.meter.add(performance.now(), chunk.length)
    if (probe.timer === undefined)
      probe.timer = setTimeout(() => probe.finish(false, true), probe.windowSeconds * 1000)
  }
  socket.on('data', onData)
  // a circuit that closes before the window is over makes the window incomplete (once it is over, finish
  // has already settled and this does nothing)
  socket.once('close', () => probe.finish(false, false))
  socket.write(encodeAck())
  onData(early)
}

function sendReverse(socket: Socket, probe: Registration, circuit: number): void {
  let acked = 0
  let sent = 0
  let partial: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    partial = partial.length === 0 ? chunk : Buffer.concat([partial, chunk])
    const whole = partial.length - (partial.length % 8)
    if (whole === 0) return
    acked = Math.max(acked, Number(partial.readBigUInt64BE(whole - 8)))
    partial = partial.subarray(whole)
  })
  pumpKeystream(socket, new Keystream(probe.key, 'reverse', circuit), () => {
    if (sent - acked >= probe.inFlightBytes) return false
    sent += CHUNK_BYTES
    return true
  })
}
