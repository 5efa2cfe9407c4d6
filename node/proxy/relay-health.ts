export interface BackOffOptions {
  /** How long a relay is skipped after its first failure; each failure in a row doubles it. */
  baseMs?: number
  maxMs?: number
  now?: () => number
}

interface Failing {
  failures: number
  until: number
}

/**
 * Relays that failed recently. A relay is skipped for a back-off that doubles with each failure in a row
 * (up to a ceiling) and is forgiven by its first success, so a relay that died stops costing every
 * connection a failed attempt, and one that comes back is tried again soon.
 */
export class RelayHealth {
  private readonly failing = new Map<string, Failing>()
  private readonly baseMs: number
  private readonly maxMs: number
  private readonly now: () => number

  constructor(options: BackOffOptions = {}) {
    this.baseMs = options.baseMs ?? 5_000
    this.maxMs = options.maxMs ?? 10 * 60_000
    this.now = options.now ?? Date.now
  }

  /** Records a failure; returns how long the relay is now skipped for. */
  failed(peerId: string): number {
    const failures = (this.failing.get(peerId)?.failures ?? 0) + 1
    const backOffMs = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(failures - 1, 30))
    this.failing.set(peerId, { failures, until: this.now() + backOffMs })
    return backOffMs
  }

  succeeded(peerId: string): void {
    this.failing.delete(peerId)
  }

  /** Whether the relay is within its back-off. */
  skipped(peerId: string): boolean {
    return (this.failing.get(peerId)?.until ?? 0) > this.now()
  }

  /** When the relay's back-off ends (unix ms), if it failed since its last success. */
  backedOffUntil(peerId: string): number | undefined {
    return this.failing.get(peerId)?.until
  }
}
