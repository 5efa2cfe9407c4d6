import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { toHex } from '../protocol/bytes.ts'
import { GoodputMeter } from './goodput.ts'
import {
  CHUNK_BYTES,
  type Direction,
  Keystream,
  PROBE_ID_BYTES,
  pumpKeystream,
  REVERSE_IN_FLIGHT_BYTES,
} from './payload.ts'

// The probe sink: the TCP listener a probe circuit exits to. A connection opens with a hello naming the
// probe (its unguessable id), the direction and the lane (a probe may run one circuit per helper in
// parallel). Forward: the sink acknowledges, then checks every byte against the lane's keystream and meters
// the goodput of all lanes together for one window, then cuts the connections. Reverse: the sink sends the
// lane's keystream until the witness hangs up (the witness checks and meters).

export const HELLO_BYTES = PROBE_ID_BYTES + 2
export const ACK = 0x06
const HELLO_TIMEOUT_MS = 10_000
const DIRECTION_CODE: Record<Direction, number> = { forward: 1, reverse: 2 }

export function encodeHello(id: Uint8Array, direction: Direction, lane = 0): Uint8Array {
  const hello = new Uint8Array(HELLO_BYTES)
  hello.set(id)
  hello[PROBE_ID_BYTES] = DIRECTION_CODE[direction]
  hello[PROBE_ID_BYTES + 1] = lane
  return hello
}

/** What the sink saw of a forward window. */
export interface WindowResult {
  samples: number[]
  /** verified payload bytes */
  bytes: number
  corrupt: boolean
  /** false when a connection ended before the window did */
  complete: boolean
}

export interface SinkProbe {
  /** Settles when the forward window is over, cut short, or found corrupt. */
  forward: Promise<WindowResult>
  /** Forward payload bytes of `lane` verified so far (the sender's in-flight limit uses it). */
  received(lane: number): number
  /** Forgets the probe and drops its connections. */
  release(): void
}

interface Registration {
  key: Uint8Array
  windowSeconds: number
  lanes: number
  used: Set<string>
  sockets: Set<Socket>
  /** verified forward bytes per lane; the window starts once every lane has some */
  received: number[]
  /** the forward window, shared by the lanes */
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

  register(id: Uint8Array, key: Uint8Array, windowSeconds: number, lanes = 1): SinkProbe {
    const name = toHex(id)
    const { promise, resolve } = Promise.withResolvers<WindowResult>()
    let done = false
    const registration: Registration = {
      key,
      windowSeconds,
      lanes,
      used: new Set(),
      sockets: new Set(),
      received: Array.from({ length: lanes }, () => 0),
      meter: new GoodputMeter(),
      finish: (corrupt, complete) => {
        if (done) return
        done = true
        clearTimeout(registration.timer)
        for (const socket of registration.sockets) socket.destroy()
        const { meter } = registration
        const bytes = registration.received.reduce((sum, n) => sum + n, 0)
        resolve({ samples: meter.samples(windowSeconds), bytes, corrupt, complete })
      },
    }
    this.probes.set(name, registration)
    return {
      forward: promise,
      received: lane => registration.received[lane] ?? 0,
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
      if (buffered.length < HELLO_BYTES) return
      socket.off('data', onHello)
      socket.setTimeout(0)
      const registration = this.probes.get(toHex(buffered.subarray(0, PROBE_ID_BYTES)))
      const code = buffered[PROBE_ID_BYTES]
      const lane = buffered[PROBE_ID_BYTES + 1] as number
      const direction = code === 1 ? 'forward' : code === 2 ? 'reverse' : undefined
      if (
        !registration ||
        !direction ||
        lane >= registration.lanes ||
        registration.used.has(`${direction}/${lane}`)
      ) {
        socket.destroy()
        return
      }
      registration.used.add(`${direction}/${lane}`)
      registration.sockets.add(socket)
      socket.once('close', () => registration.sockets.delete(socket))
      if (direction === 'forward') receiveForward(socket, registration, lane, buffered.subarray(HELLO_BYTES))
      else sendReverse(socket, registration.key, lane)
    }
    socket.on('data', onHello)
  }
}

function receiveForward(socket: Socket, probe: Registration, lane: number, early: Buffer): void {
  const stream = new Keystream(probe.key, 'forward', lane)
  const onData = (chunk: Buffer) => {
    if (chunk.length === 0) return
    if (!stream.matches(chunk)) return probe.finish(true, false)
    probe.received[lane] = (probe.received[lane] ?? 0) + chunk.length
    // The window starts once every lane carries bytes: a lane whose circuit came up later must not leave
    // part of the window to the others alone.
    if (probe.received.some(n => n === 0)) return
    probe.meter.add(performance.now(), chunk.length)
    if (probe.timer === undefined)
      probe.timer = setTimeout(() => probe.finish(false, true), probe.windowSeconds * 1000)
  }
  socket.on('data', onData)
  // a lane that closes before the window is over makes the window incomplete (once it is over, finish
  // has already settled and this does nothing)
  socket.once('close', () => probe.finish(false, false))
  socket.write(Uint8Array.of(ACK))
  onData(early)
}

function sendReverse(socket: Socket, key: Uint8Array, lane: number): void {
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
  pumpKeystream(socket, new Keystream(key, 'reverse', lane), () => {
    if (sent - acked >= REVERSE_IN_FLIGHT_BYTES) return false
    sent += CHUNK_BYTES
    return true
  })
}
