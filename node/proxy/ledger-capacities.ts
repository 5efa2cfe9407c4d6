import { parseAnswer, relaysAnswer } from '../../protocol/ledger-api.ts'
import type { Logger } from '../host/log.ts'

const POLL_MS = 5 * 60_000
const TIMEOUT_MS = 10_000

/**
 * Relays' capacities as a ledger's `GET /relays` reports them: each relay's score in its latest tallied
 * epoch (the lower median of its witnesses' measurements, bytes/s). Taken on the ledger's word: nothing
 * here checks the scores against the epoch's certificate. A score of 0 (too few attestations) counts as
 * unmeasured, not as no capacity.
 */
export class LedgerCapacities {
  private scores = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private readonly url: string

  constructor(
    ledger: string,
    private readonly log: Logger,
  ) {
    this.url = `${ledger.replace(/\/+$/, '')}/relays`
  }

  get(peerId: string): number | undefined {
    return this.scores.get(peerId)
  }

  get size(): number {
    return this.scores.size
  }

  /** Polls now and every five minutes (scores change once an epoch). */
  start(everyMs = POLL_MS): void {
    void this.refresh()
    this.timer = setInterval(() => void this.refresh(), everyMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Replaces the scores with the ledger's current answer; keeps the old ones if it cannot be read. */
  async refresh(): Promise<void> {
    try {
      const res = await fetch(this.url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
      if (!res.ok) throw new Error(`${this.url} answered ${res.status}`)
      const answer = parseAnswer(relaysAnswer, await res.json(), this.url)
      const scores = new Map<string, number>()
      for (const relay of answer.relays) {
        const score = relay.lastScore?.score ?? 0
        if (Number.isFinite(score) && score > 0) scores.set(relay.peerId, score)
      }
      this.scores = scores
      this.log.resolved('ledger', 'the ledger answers again', { ledger: this.url })
    } catch (err) {
      this.log.problem(
        'ledger',
        `cannot read relay capacities from the ledger: ${(err as Error).message}`,
        'check --ledger; meanwhile the scores last read (if any) weigh the relays',
        { ledger: this.url },
      )
    }
  }
}
