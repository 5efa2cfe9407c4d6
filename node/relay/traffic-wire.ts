import { decodeVersionedFields, encodeFields, uint } from '../../protocol/codec.ts'
import { DecodeError } from '../../protocol/errors.ts'

// The traffic report: a relay's running byte totals over a span of time, which a witness that has just
// probed it asks for to tell the relay's other traffic (its users, other circuits) from the probe's own.
//   request = CBOR [1, fromMs, toMs]   unix ms; 0 < toMs - fromMs <= MAX_SPAN_MS
//   report  = CBOR [1, totals]         totals: bytes, n entries of 24: unix ms, bytes in, bytes out
//                                      (u64 big-endian each; running totals, `in` from clients); n <= MAX_TOTALS,
//                                      times strictly increasing, totals never decreasing
// Neither message is signed. The witness attests to what it concludes, and the tally credits background
// at most a third of the probe's own rate (capacityOf), so a relay that lies in its report gains at most
// that third; one that reports nothing is credited nothing.

export const TRAFFIC_VERSION = 1
/** Longest span a report covers: a probe's two windows, its circuits and its timeout fit well within. */
export const MAX_SPAN_MS = 120_000
/** Totals are kept once a second; a span's worth, with one before and after it and the fresh one. */
export const MAX_TOTALS = MAX_SPAN_MS / 1000 + 3
const TOTAL_BYTES = 24
export const MAX_TRAFFIC_REQUEST_BYTES = 32
export const MAX_TRAFFIC_REPORT_BYTES = 8 + MAX_TOTALS * TOTAL_BYTES

export interface TrafficRequest {
  fromMs: number
  toMs: number
}

/** A relay's running byte totals at one instant. */
export interface TrafficTotals {
  /** unix ms */
  t: number
  bytesIn: number
  bytesOut: number
}

export function encodeTrafficRequest(r: TrafficRequest): Uint8Array {
  checkSpan(r)
  return encodeFields([TRAFFIC_VERSION, r.fromMs, r.toMs])
}

export function decodeTrafficRequest(bytes: Uint8Array): TrafficRequest {
  const f = decodeVersionedFields(bytes, MAX_TRAFFIC_REQUEST_BYTES, { 1: 3 }, 'traffic request')
  const request = { fromMs: uint(f[1], 'fromMs'), toMs: uint(f[2], 'toMs') }
  checkSpan(request)
  return request
}

function checkSpan({ fromMs, toMs }: TrafficRequest): void {
  if (!(toMs > fromMs && toMs - fromMs <= MAX_SPAN_MS))
    throw new DecodeError(
      'field',
      `traffic request: span ${fromMs}..${toMs}: expected 1 to ${MAX_SPAN_MS} ms`,
    )
}

export function encodeTrafficReport(totals: readonly TrafficTotals[]): Uint8Array {
  checkTotals(totals)
  const packed = Buffer.alloc(totals.length * TOTAL_BYTES)
  totals.forEach((s, i) => {
    packed.writeBigUInt64BE(BigInt(s.t), i * TOTAL_BYTES)
    packed.writeBigUInt64BE(BigInt(s.bytesIn), i * TOTAL_BYTES + 8)
    packed.writeBigUInt64BE(BigInt(s.bytesOut), i * TOTAL_BYTES + 16)
  })
  return encodeFields([TRAFFIC_VERSION, new Uint8Array(packed)])
}

export function decodeTrafficReport(bytes: Uint8Array): TrafficTotals[] {
  const f = decodeVersionedFields(bytes, MAX_TRAFFIC_REPORT_BYTES, { 1: 2 }, 'traffic report')
  const packed = f[1]
  if (!(packed instanceof Uint8Array) || packed.length % TOTAL_BYTES !== 0)
    throw new DecodeError('field', `totals: expected bytes, a multiple of ${TOTAL_BYTES} long`)
  const view = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength)
  const u64 = (at: number, field: string) => {
    const value = view.readBigUInt64BE(at)
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new DecodeError('field', `${field}: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`)
    return Number(value)
  }
  const totals = Array.from({ length: packed.length / TOTAL_BYTES }, (_, i) => ({
    t: u64(i * TOTAL_BYTES, 't'),
    bytesIn: u64(i * TOTAL_BYTES + 8, 'bytesIn'),
    bytesOut: u64(i * TOTAL_BYTES + 16, 'bytesOut'),
  }))
  checkTotals(totals)
  return totals
}

function checkTotals(totals: readonly TrafficTotals[]): void {
  if (totals.length > MAX_TOTALS)
    throw new DecodeError('field', `totals: ${totals.length} entries, limit ${MAX_TOTALS}`)
  for (let i = 1; i < totals.length; i++) {
    const [a, b] = [totals[i - 1] as TrafficTotals, totals[i] as TrafficTotals]
    if (!(b.t > a.t && b.bytesIn >= a.bytesIn && b.bytesOut >= a.bytesOut))
      throw new DecodeError('field', `totals[${i}]: expected a later time and no smaller totals`)
  }
}
