import { setMaxListeners } from 'node:events'
import type { Duplex } from 'node:stream'
import type { Outcome } from '../protocol/attestation.ts'
import type { ProbeParameters } from '../protocol/network.ts'
import type { SteadySpan } from './background.ts'
import type { Party } from './colocation.ts'
import { GoodputMeter, steadyRate } from './goodput.ts'
import {
  ACK_EVERY_BYTES,
  CHUNK_BYTES,
  IN_FLIGHT_BYTES,
  Keystream,
  newProbeSecret,
  pumpKeystream,
} from './payload.ts'
import { ACK, encodeHello, type ProbeSink, paddedLength, type SinkProbe, type WindowResult } from './sink.ts'

/** What one probe measured; the attestation fields that are not about identities. */
export interface ProbeMeasurement {
  outcome: Outcome
  /** unix ms */
  startedAt: number
  durationMs: number
  /** payload bytes verified, both directions */
  bytes: number
  forwardBps: number
  reverseBps: number
  rttMs: number
  /** When each window's rate was measured, for the target's background (ok probes only) */
  steady?: { forward: SteadySpan; reverse: SteadySpan }
}

/**
 * A circuit failed at or beyond its helper: 'refused' when the target's refusal came back, 'unreachable'
 * when the helper said it could not reach the target. Either is the helper's word: not proof against the
 * target until unrelated helpers say the same.
 */
export class CircuitError extends Error {
  override name = 'CircuitError'
  constructor(
    readonly outcome: 'refused' | 'unreachable',
    message: string,
  ) {
    super(message)
  }
}

/** The circuit failed at the helper (or before it): the probe says nothing about the target. */
export class HelperError extends Error {
  override name = 'HelperError'
}

class ProbeFailure extends Error {
  constructor(readonly outcome: Outcome) {
    super(outcome)
  }
}

/**
 * Opens a fresh circuit to the sink through lane `lane`'s helper (a probe runs several circuits through
 * each of its helpers at once); throws CircuitError (anything else counts as unreachable).
 */
export type OpenCircuit = (signal: AbortSignal, lane: number) => Promise<Duplex>

export interface ProbeShape {
  /** helpers, each a lane of the probe; 1 by default */
  lanes?: number
  /** circuits in all, spread evenly over the lanes; one per lane by default */
  circuits?: number
  /** with the other probes of the target's machine: each window waits for them, its circuits open */
  party?: Party
  /** bytes per lane a window keeps in flight, shared by the lane's circuits (bench/probe-cpu.ts varies it) */
  inFlightBytes?: number
}

/**
 * Runs one probe: a forward window (we send, the sink checks and meters) then a reverse window (the
 * sink sends, we check and meter), each over `circuits` circuits spread over the `lanes` helpers, all in
 * parallel and their goodput added up, the whole bounded by the timeout. Never throws: every failure
 * becomes an outcome. Several circuits take more of a busy target's fair shares from its other tunnels,
 * as FlashFlow's many sockets do, so what its users keep stays within the background credit.
 */
export async function runProbe(
  open: OpenCircuit,
  sink: ProbeSink,
  params: ProbeParameters,
  { lanes = 1, circuits: wanted = lanes, party, inFlightBytes = IN_FLIGHT_BYTES }: ProbeShape = {},
): Promise<ProbeMeasurement> {
  const startedAt = Date.now()
  const began = performance.now()
  const { id, key } = newProbeSecret()
  const count = Math.max(wanted, lanes)
  // each circuit's share of its lane's bytes in flight, but room for two acknowledgements at least
  const perCircuit = Math.max(Math.ceil((inFlightBytes * lanes) / count), 2 * ACK_EVERY_BYTES)
  const atSink = sink.register(id, key, params.windowSeconds, count, perCircuit)
  const deadline = new AbortController()
  // every circuit's dials and handshakes listen on it
  setMaxListeners(8 * count + 10, deadline.signal)
  const timer = setTimeout(() => deadline.abort(), params.timeoutSeconds * 1000)
  const circuits: Duplex[] = []
  const openTracked = async (lane: number) => {
    const circuit = await open(deadline.signal, lane)
    circuit.on('error', () => {})
    circuits.push(circuit)
    if (deadline.signal.aborted) circuit.destroy()
    return circuit
  }
  // circuit k goes through lane k mod lanes, so the helpers carry as many as one another, give or take one
  const allOpen = () => Promise.all(Array.from({ length: count }, (_, k) => openTracked(k % lanes)))
  deadline.signal.addEventListener('abort', () => {
    for (const c of circuits) c.destroy()
    atSink.release()
  })

  let outcome: Outcome = 'ok'
  let forward: WindowResult = { samples: [], bytes: 0, corrupt: false, complete: false }
  let reverse: WindowResult = forward
  const rtts: number[] = []
  try {
    const forwardCircuits = await allOpen()
    await party?.arrive('forward', deadline.signal)
    const forwardRtt = await sendForward(forwardCircuits, id, key, atSink, perCircuit)
    rtts.push(forwardRtt.rttMs)
    forward = forwardRtt.result
    if (forward.corrupt) throw new ProbeFailure('corrupt')
    if (!forward.complete) throw new ProbeFailure('unreachable')
    const reverseCircuits = await allOpen()
    await party?.arrive('reverse', deadline.signal)
    const reverseRtt = await receiveReverse(reverseCircuits, id, key, params.windowSeconds)
    rtts.push(reverseRtt.rttMs)
    reverse = reverseRtt.result
    if (reverse.corrupt) throw new ProbeFailure('corrupt')
    if (!reverse.complete) throw new ProbeFailure('unreachable')
  } catch (err) {
    const said = err instanceof ProbeFailure || err instanceof CircuitError ? err.outcome : 'unreachable'
    outcome = deadline.signal.aborted && said !== 'corrupt' ? 'timeout' : said
  } finally {
    party?.leave()
    clearTimeout(timer)
    for (const c of circuits) c.destroy()
    atSink.release()
  }
  const ok = outcome === 'ok'
  const spans = ok ? steadySpans(forward, reverse, params.warmupSeconds) : undefined
  return {
    ...(spans && { steady: spans }),
    outcome,
    startedAt,
    durationMs: Math.round(performance.now() - began),
    bytes: forward.bytes + reverse.bytes,
    forwardBps: ok ? steadyRate(forward.samples, params.warmupSeconds) : 0,
    reverseBps: ok ? steadyRate(reverse.samples, params.warmupSeconds) : 0,
    rttMs: rtts.length > 0 ? Math.round(Math.min(...rtts)) : 0,
  }
}

/** The windows' measured seconds (after the warm-up) in unix ms, with the probe's bytes in them. */
function steadySpans(
  forward: WindowResult,
  reverse: WindowResult,
  warmupSeconds: number,
): ProbeMeasurement['steady'] {
  // Date.now(), not performance.timeOrigin: the target's totals are stamped by its wall clock
  const unix = (at: number) => Math.round(Date.now() - (performance.now() - at))
  const span = (w: WindowResult): SteadySpan | undefined =>
    w.startedAt === undefined || w.samples.length <= warmupSeconds
      ? undefined
      : {
          fromMs: unix(w.startedAt + warmupSeconds * 1000),
          toMs: unix(w.startedAt + w.samples.length * 1000),
          bytes: Math.round(w.samples.slice(warmupSeconds).reduce((sum, n) => sum + n, 0)),
        }
  const [f, r] = [span(forward), span(reverse)]
  return f && r ? { forward: f, reverse: r } : undefined
}

/**
 * Resolves once the sink's padded ack has arrived; rejects with 'corrupt' if anything else did, and with
 * 'unreachable' if the circuit closes first. (In the forward window the sink sends nothing after it.)
 */
function readAck(circuit: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    const settle = (failure?: ProbeFailure) => {
      circuit.off('data', onData)
      circuit.off('close', onClose)
      circuit.pause()
      if (failure) reject(failure)
      else resolve()
    }
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered[0] !== ACK) return settle(new ProbeFailure('corrupt'))
      const length = paddedLength(buffered, 1)
      if (length === undefined) return
      settle(length === buffered.length ? undefined : new ProbeFailure('corrupt'))
    }
    const onClose = () => settle(new ProbeFailure('unreachable'))
    circuit.on('data', onData)
    circuit.once('close', onClose)
  })
}

async function sendForward(
  circuits: Duplex[],
  id: Uint8Array,
  key: Uint8Array,
  atSink: SinkProbe,
  perCircuit: number,
): Promise<{ rttMs: number; result: WindowResult }> {
  const sentAt = performance.now()
  const rtts = await Promise.all(
    circuits.map(async (circuit, k) => {
      circuit.write(encodeHello(id, 'forward', k))
      await readAck(circuit)
      return performance.now() - sentAt
    }),
  )
  // A relayed stream can accept far more than the path carries (every hop buffers): the sink's count
  // bounds what is in flight.
  circuits.forEach((circuit, k) => {
    circuit.resume()
    let sent = 0
    pumpKeystream(circuit, new Keystream(key, 'forward', k), () => {
      if (sent - atSink.received(k) >= perCircuit) return false
      sent += CHUNK_BYTES
      return true
    })
  })
  const settled = await atSink.forward
  for (const circuit of circuits) circuit.destroy()
  return { rttMs: Math.min(...rtts), result: settled }
}

function receiveReverse(
  circuits: Duplex[],
  id: Uint8Array,
  key: Uint8Array,
  windowSeconds: number,
): Promise<{ rttMs: number; result: WindowResult }> {
  const sentAt = performance.now()
  const meter = new GoodputMeter()
  const flowing = new Set<number>()
  let verifiedTotal = 0
  let rttMs = 0
  return new Promise(resolve => {
    let timer: NodeJS.Timeout | undefined
    let done = false
    const finish = (corrupt: boolean, complete: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      for (const circuit of circuits) circuit.destroy()
      resolve({
        rttMs,
        result: {
          samples: meter.samples(windowSeconds),
          bytes: verifiedTotal,
          corrupt,
          complete,
          startedAt: meter.startedAt,
        },
      })
    }
    circuits.forEach((circuit, k) => {
      const stream = new Keystream(key, 'reverse', k)
      let verified = 0
      let ackedAt = 0
      circuit.on('data', (chunk: Buffer) => {
        if (done) return
        const now = performance.now()
        if (flowing.size === 0) rttMs = now - sentAt
        if (!stream.matches(chunk)) return finish(true, false)
        verified += chunk.length
        verifiedTotal += chunk.length
        // as at the sink, the window starts once every circuit carries bytes
        flowing.add(k)
        if (flowing.size === circuits.length) {
          meter.add(now, chunk.length)
          timer ??= setTimeout(() => finish(false, true), windowSeconds * 1000)
        }
        if (verified - ackedAt >= ACK_EVERY_BYTES) {
          ackedAt = verified
          const ack = Buffer.alloc(8)
          ack.writeBigUInt64BE(BigInt(verified))
          circuit.write(ack)
        }
      })
      circuit.once('close', () => finish(false, false))
      circuit.write(encodeHello(id, 'reverse', k))
    })
  })
}
