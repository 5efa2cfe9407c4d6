import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serveDashboard } from './dashboard.ts'

export interface StatusSource {
  status(): unknown
  /** Prometheus text exposition format. */
  metrics(): string
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
    try {
      if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(source.status())}\n`)
      } else {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(source.metrics())
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`)
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

/** One metric family in Prometheus text format. */
export function metric(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: Array<[labels: Record<string, string>, value: number]>,
): string {
  const lines = samples.map(([labels, value]) => {
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, c => (c === '\n' ? '\\n' : `\\${c}`))}"`)
      .join(',')
    return `${name}${text ? `{${text}}` : ''} ${value}`
  })
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${lines.join('\n')}\n`
}
