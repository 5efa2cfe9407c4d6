import type { Logger } from '../host/log.ts'

/** What the ledger says this relay earned (docs/ledger.md, `GET /relays/:peerId` and `GET /rewards/:address`). */
export interface EarningsView {
  ledger: string
  /** unix ms of the last answer, null before the first */
  fetchedAt: number | null
  /** why the last poll failed, null when it did not */
  error: string | null
  relay: { history: Array<{ epoch: number; score: number; reward: string }> } | null
  rewards: { account: string; epoch: number; amount: string } | null
}

const POLL_MS = 30_000
const TIMEOUT_MS = 5_000

/** Polls a ledger's HTTP API for a relay's earnings: once at start, then every 30 s, never on request. */
export class LedgerEarnings {
  private view: EarningsView
  private timer: NodeJS.Timeout | undefined

  constructor(
    ledger: string,
    private readonly peerId: string,
    private readonly payout: string,
    private readonly log?: Logger,
  ) {
    this.view = {
      ledger: ledger.replace(/\/+$/, ''),
      fetchedAt: null,
      error: null,
      relay: null,
      rewards: null,
    }
  }

  start(): void {
    void this.poll()
    this.timer = setInterval(() => void this.poll(), POLL_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  current(): EarningsView {
    return this.view
  }

  async poll(): Promise<void> {
    const base = this.view.ledger
    try {
      const [relay, rewards] = await Promise.all([
        getJson(`${base}/relays/${this.peerId}`),
        getJson(`${base}/rewards/${this.payout}`),
      ])
      this.view = { ...this.view, fetchedAt: Date.now(), error: null, relay, rewards } as EarningsView
      this.log?.resolved('ledger', 'the ledger answers again', { ledger: base })
    } catch (err) {
      const error = (err as Error).message
      this.view = { ...this.view, error }
      this.log?.problem('ledger', `cannot read earnings from the ledger: ${error}`, 'check --ledger', {
        ledger: base,
      })
    }
  }
}

/** The JSON at `url`; null for a 404 (not registered or nothing certified yet). */
async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (res.status === 404) return null
  if (!res.ok) throw new Error(`${url} answered ${res.status}`)
  return res.json()
}
