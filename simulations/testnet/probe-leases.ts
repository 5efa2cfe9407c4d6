import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ProbeGate } from '../../witness/probe-gate.ts'

/**
 * Probe leases for witnesses that share one machine (a local testnet). On a real network each witness
 * probes from its own host and probes of different witnesses rarely meet at one relay; a testnet squeezes
 * every witness, relay and ledger onto a few cores and epochs into seconds, so concurrent probes would
 * split the relays' token buckets and the CPU. A witness asks for a lease on the relays of its next probe
 * (target and helpers) and runs it once granted: no relay is in two probes at once, and at most
 * `concurrency` probes run on the machine. Witnesses still choose their relays' probe times and helpers.
 *
 * POST /lease with `{"relays": [...]}` answers `{"id"}` once granted (the request waits); the lease ends
 * with DELETE /lease/:id, when the waiting request is abandoned, or after `maxLeaseMs`.
 */
export class ProbeLeases {
  private readonly active = new Map<string, { relays: string[]; timer: NodeJS.Timeout }>()
  private readonly waiting: Array<{ relays: string[]; grant: (id: string) => void; gone: () => boolean }> = []

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly concurrency: number,
    private readonly maxLeaseMs: number,
  ) {}

  static async listen(concurrency: number, maxLeaseMs = 60_000): Promise<ProbeLeases> {
    let leases: ProbeLeases | undefined
    const server = createServer((req, res) => leases?.handle(req, res))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    leases = new ProbeLeases(server, `http://127.0.0.1:${port}`, concurrency, maxLeaseMs)
    return leases
  }

  /** Leases granted so far that are still held. */
  get held(): number {
    return this.active.size
  }

  /** Requests waiting for their lease. */
  get queued(): number {
    return this.waiting.length
  }

  async close(): Promise<void> {
    for (const { timer } of this.active.values()) clearTimeout(timer)
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const release = /^\/lease\/([0-9a-f]+)$/.exec(req.url ?? '')
    if (req.method === 'DELETE' && release) {
      this.release(release[1] as string)
      res.writeHead(204).end()
      return
    }
    if (req.method !== 'POST' || req.url !== '/lease') {
      res.writeHead(404).end()
      return
    }
    let body = ''
    req.on('data', chunk => {
      body += chunk
    })
    req.on('end', () => {
      const relays = (() => {
        try {
          const parsed = JSON.parse(body) as { relays?: unknown }
          return Array.isArray(parsed.relays) && parsed.relays.every(r => typeof r === 'string')
            ? (parsed.relays as string[])
            : undefined
        } catch {
          return undefined
        }
      })()
      if (relays === undefined || relays.length === 0) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"expected {relays: [...]}"}')
        return
      }
      let granted: string | undefined
      res.once('close', () => {
        // the witness gave up waiting, or hung up while holding the lease
        if (granted !== undefined && !res.writableFinished) this.release(granted)
        this.grantWaiting()
      })
      this.waiting.push({
        relays,
        gone: () => res.destroyed,
        grant: id => {
          granted = id
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id }))
        },
      })
      this.grantWaiting()
    })
  }

  private release(id: string): void {
    const lease = this.active.get(id)
    if (!lease) return
    clearTimeout(lease.timer)
    this.active.delete(id)
    this.grantWaiting()
  }

  /** Grants waiting requests in order while the oldest one's relays are free and there is room. */
  private grantWaiting(): void {
    const busy = new Set([...this.active.values()].flatMap(l => l.relays))
    for (let i = 0; i < this.waiting.length && this.active.size < this.concurrency; ) {
      const request = this.waiting[i] as (typeof this.waiting)[number]
      if (request.gone()) {
        this.waiting.splice(i, 1)
        continue
      }
      // First come, first served: a probe that needs a busy relay holds back the ones behind it, else
      // small requests would keep overtaking a probe that needs several relays until its time ran out.
      if (request.relays.some(r => busy.has(r))) break
      this.waiting.splice(i, 1)
      const id = randomBytes(8).toString('hex')
      this.active.set(id, {
        relays: request.relays,
        timer: setTimeout(() => this.release(id), this.maxLeaseMs),
      })
      for (const r of request.relays) busy.add(r)
      request.grant(id)
    }
  }
}

/**
 * The probe gate of a witness in the testnet: each probe waits for a lease on its relays from the run's
 * ProbeLeases at `url`, and gives it back when done.
 */
export function leaseGate(url: string): ProbeGate {
  return {
    async enter(relays, signal) {
      const response = await fetch(new URL('/lease', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ relays }),
        signal,
      })
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status} for a probe lease`)
      const { id } = (await response.json()) as { id: string }
      return async () => {
        await fetch(new URL(`/lease/${id}`, url), {
          method: 'DELETE',
          signal: AbortSignal.timeout(5000),
        }).catch(() => {})
      }
    },
  }
}
