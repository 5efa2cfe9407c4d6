import { Registry } from 'prom-client'
import { readCounter, readGauge, type StatusSource } from '../host/status-server.ts'
import type { RelayHealth } from './relay-health.ts'
import type { Traffic } from './socks5.ts'

interface RelayUse {
  connections: number
  open: number
  bytesUp: number
  bytesDown: number
  failures: number
  lastFailure?: { reason: string; at: number }
}

/** One open connection: its relays and, once the server starts piping, its live byte counts. */
export interface OpenConnection {
  /** The client side's byte counts, given by the SOCKS or HTTP server once the tunnel is up. */
  track(traffic: Traffic): void
  close(): void
}

const RECENT_FAILURES = 20

/**
 * What `weir proxy` has done, for its `/status` and `/metrics`: connections, bytes per relay (both
 * directions; every relay of a 2-hop circuit carries the same bytes), failed attempts per relay and why
 * connections finally failed.
 */
export class ProxySession implements StatusSource {
  readonly metrics = new Registry()
  private readonly relays = new Map<string, RelayUse>()
  private readonly live = new Set<{ relays: string[]; traffic?: Traffic }>()
  private readonly reasons = new Map<string, number>()
  private readonly recent: { at: number; target: string; reason: string }[] = []
  private connections = 0
  private failed = 0

  constructor(
    private readonly info: { peerId: string; hops: number },
    private readonly health: RelayHealth,
    private readonly now: () => number = Date.now,
  ) {
    readGauge(
      this.metrics,
      'weir_proxy_open_connections',
      'Client connections open now',
      () => this.live.size,
    )
    readCounter(
      this.metrics,
      'weir_proxy_connections_total',
      'Client connections by outcome',
      ['outcome'],
      () => [
        [{ outcome: 'opened' }, this.connections],
        [{ outcome: 'failed' }, this.failed],
      ],
    )
    readCounter(
      this.metrics,
      'weir_proxy_relay_bytes_total',
      'Bytes carried per relay',
      ['relay', 'direction'],
      () =>
        this.relayLines().flatMap(r => [
          [{ relay: r.peerId, direction: 'up' }, r.bytesUp] as [Record<string, string>, number],
          [{ relay: r.peerId, direction: 'down' }, r.bytesDown] as [Record<string, string>, number],
        ]),
    )
  }

  /** A connection's circuit is open through `relays`. */
  opened(relays: string[]): OpenConnection {
    this.connections++
    for (const peerId of relays) {
      const use = this.use(peerId)
      use.connections++
      use.open++
    }
    const entry: { relays: string[]; traffic?: Traffic } = { relays }
    this.live.add(entry)
    return {
      track: traffic => {
        entry.traffic = traffic
      },
      close: () => {
        if (!this.live.delete(entry)) return
        for (const peerId of relays) {
          const use = this.use(peerId)
          use.open--
          use.bytesUp += entry.traffic?.up() ?? 0
          use.bytesDown += entry.traffic?.down() ?? 0
        }
      },
    }
  }

  /** An attempt through `peerId` failed because of that relay. */
  relayFailed(peerId: string, reason: string): void {
    const use = this.use(peerId)
    use.failures++
    use.lastFailure = { reason, at: this.now() }
  }

  /** A client connection failed for good (after any failover). */
  connectionFailed(target: string, reason: string): void {
    this.failed++
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1)
    this.recent.push({ at: this.now(), target, reason })
    if (this.recent.length > RECENT_FAILURES) this.recent.shift()
  }

  status() {
    return {
      peerId: this.info.peerId,
      hops: this.info.hops,
      connections: { opened: this.connections, open: this.live.size, failed: this.failed },
      failures: Object.fromEntries([...this.reasons].sort(([a], [b]) => (a < b ? -1 : 1))),
      recentFailures: this.recent,
      relays: this.relayLines(),
    }
  }

  private relayLines() {
    const lines = [...this.relays].map(([peerId, use]) => ({
      peerId,
      ...use,
      backedOffUntil: this.health.skipped(peerId) ? this.health.backedOffUntil(peerId) : undefined,
    }))
    for (const entry of this.live) {
      for (const line of lines.filter(l => entry.relays.includes(l.peerId))) {
        line.bytesUp += entry.traffic?.up() ?? 0
        line.bytesDown += entry.traffic?.down() ?? 0
      }
    }
    return lines.sort((a, b) => b.connections - a.connections || (a.peerId < b.peerId ? -1 : 1))
  }

  private use(peerId: string): RelayUse {
    let use = this.relays.get(peerId)
    if (use === undefined) {
      use = { connections: 0, open: 0, bytesUp: 0, bytesDown: 0, failures: 0 }
      this.relays.set(peerId, use)
    }
    return use
  }
}
