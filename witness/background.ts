import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { type Host, protocolId } from '../node/host/host.ts'
import {
  decodeTrafficReport,
  encodeTrafficRequest,
  MAX_TRAFFIC_REPORT_BYTES,
  type TrafficRequest,
  type TrafficTotals,
} from '../node/relay/traffic-wire.ts'

// FlashFlow credits a relay with the traffic it carries for others while it is measured, so that a busy
// relay is not read at its spare capacity. Its relays know which circuits are measurements; ours must
// not (a relay that could tell a probe from a user could serve the one and starve the other), so the
// witness asks the target, once the probe is over, for its running totals over the probe's windows and
// takes away what the probe itself moved. The tally credits the rest up to a third of the probe's rate.

/** The steady part of one probe window (after its warm-up): when, in unix ms, and the probe's bytes. */
export interface SteadySpan {
  fromMs: number
  toMs: number
  bytes: number
}

/** A running total at `atMs`, linear between the totals around it; undefined outside them. */
function totalAt(totals: readonly TrafficTotals[], atMs: number): number | undefined {
  const after = totals.findIndex(s => s.t >= atMs)
  if (after < 0) return undefined
  const b = totals[after] as TrafficTotals
  if (b.t === atMs) return b.bytesIn + b.bytesOut
  if (after === 0) return undefined
  const a = totals[after - 1] as TrafficTotals
  const [before, next] = [a.bytesIn + a.bytesOut, b.bytesIn + b.bytesOut]
  return before + ((next - before) * (atMs - a.t)) / (b.t - a.t)
}

/**
 * What the target carried besides the probe during one window, in bytes/s, never below 0; undefined
 * when its totals do not cover the window. Both directions count: a relay's cap is on both together
 * (--max-bandwidth), so its users' downloads take from a forward window as much as their uploads do.
 */
export function backgroundBps(totals: readonly TrafficTotals[], span: SteadySpan): number | undefined {
  const from = totalAt(totals, span.fromMs)
  const to = totalAt(totals, span.toMs)
  if (from === undefined || to === undefined || span.toMs <= span.fromMs) return undefined
  const other = to - from - span.bytes
  return Math.max(0, Math.floor((other * 1000) / (span.toMs - span.fromMs)))
}

const ASK_TIMEOUT_MS = 5000

/** Asks a relay for its running totals over a span (traffic-wire.ts). */
export async function askTraffic(host: Host, networkId: string, relay: string, span: TrafficRequest) {
  const signal = AbortSignal.timeout(ASK_TIMEOUT_MS)
  const stream = await host.dialProtocol(peerIdFromString(relay), protocolId(networkId, 'traffic'), {
    signal,
  })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_TRAFFIC_REPORT_BYTES })
    await lp.write(encodeTrafficRequest(span), { signal })
    const totals = decodeTrafficReport((await lp.read({ signal })).subarray())
    await stream.close({ signal })
    return totals
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
