import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, type Registry } from 'prom-client'
import { serveDashboard } from './dashboard.ts'

export interface StatusSource {
  status(): unknown
  /** The node's own Prometheus registry (never the global one, so nodes sharing a process stay apart). */
  readonly metrics: Registry
  /** The HTML dashboard served at `GET /`, when the role has one (node/host/dashboard.ts). */
  page?: string
}

export interface StatusServer {
  /** `host:port` actually bound (port 0 becomes the real port). */
  address: string
  close(): Promise<void>
}

/** Serves `GET /status` (JSON), `GET /metrics` (Prometheus) and the dashboard at `GET /`. Bind it to loopback unless told otherwise. */
export async function startStatusServer(
  host: string,
  port: number,
  source: StatusSource,
): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (source.page !== undefined && serveDashboard(req, res, source.page)) return
    if (req.method !== 'GET' || (path !== '/status' && path !== '/metrics')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status or /metrics\n')
      return
    }
    const fail = (err: unknown) =>
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`)
    try {
      if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(source.status())}\n`)
      } else {
        source.metrics
          .metrics()
          .then(text => res.writeHead(200, { 'content-type': source.metrics.contentType }).end(text), fail)
      }
    } catch (err) {
      fail(err)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const bound = server.address() as AddressInfo
  return {
    address: bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A gauge whose value `read` gives when scraped. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read())
    },
  })
}

/**
 * A counter whose values `read` gives when scraped, one per label set: the counts themselves are kept where
 * they happen (the meter, the witness), which only ever adds to them.
 */
export function readCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Array<[labels: Partial<Record<L, string>>, value: number]>,
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, value] of read()) this.inc(labels, value)
    },
  })
}
