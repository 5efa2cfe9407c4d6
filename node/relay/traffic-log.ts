import { lpStream } from '@libp2p/utils'
import { type Host, protocolId } from '../host/host.ts'
import type { ByteCounts } from './meter.ts'
import {
  decodeTrafficRequest,
  encodeTrafficReport,
  MAX_TOTALS,
  MAX_TRAFFIC_REQUEST_BYTES,
  type TrafficTotals,
} from './traffic-wire.ts'

const SAMPLE_MS = 1000
/** Five minutes of totals: a witness asks right after its probe ends. */
const KEEP = 300
const ANSWER_TIMEOUT_MS = 5000

/**
 * The relay's running byte totals, read once a second and kept for a few minutes, served over
 * `/traffic` to witnesses, which credit what the relay carried besides their probe (traffic-wire.ts).
 */
export class TrafficLog {
  private readonly kept: TrafficTotals[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly read: () => ByteCounts,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Reads the totals now (start() does, once a second). */
  sample(): void {
    const t = this.now()
    const last = this.kept.at(-1)
    if (last !== undefined && t <= last.t) return
    const { bytesIn, bytesOut } = this.read()
    this.kept.push({ t, bytesIn, bytesOut })
    if (this.kept.length > KEEP) this.kept.shift()
  }

  /**
   * The kept totals from the last one at or before `fromMs` to the first at or after `toMs`, read afresh
   * when `toMs` is still to come; no more than MAX_TOTALS, the latest kept.
   */
  between(fromMs: number, toMs: number): TrafficTotals[] {
    if (toMs >= (this.kept.at(-1)?.t ?? 0)) this.sample()
    const kept = this.kept
    let first = kept.findLastIndex(s => s.t <= fromMs)
    if (first < 0) first = 0
    let last = kept.findIndex(s => s.t >= toMs)
    if (last < 0) last = kept.length - 1
    return kept.slice(Math.max(first, last + 1 - MAX_TOTALS), last + 1)
  }

  async serve(host: Host, networkId: string): Promise<void> {
    await host.handle(
      protocolId(networkId, 'traffic'),
      async stream => {
        const signal = AbortSignal.timeout(ANSWER_TIMEOUT_MS)
        try {
          const lp = lpStream(stream, { maxDataLength: MAX_TRAFFIC_REQUEST_BYTES })
          const { fromMs, toMs } = decodeTrafficRequest((await lp.read({ signal })).subarray())
          await lp.write(encodeTrafficReport(this.between(fromMs, toMs)), { signal })
          await stream.close({ signal })
        } catch (err) {
          stream.abort(err as Error)
        }
      },
      { maxInboundStreams: 4 },
    )
  }
}
