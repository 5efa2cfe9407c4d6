import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface ProxyOptions {
  /** bytes per second through the proxy, all its connections and both directions together (as a relay's
   * cap); unshaped when absent */
  rate?: number
  /** flip one bit in every chunk of at least 1 KiB (payload, not the small hello and ack) */
  flipBits?: boolean
  /** accept the connection, then never forward anything */
  blackhole?: boolean
  /** hold the payload (chunks of at least 1 KiB) back this long from its first chunk: a lane slow to start */
  stallMs?: number
}

/** A TCP proxy on 127.0.0.1 that stands in for a relay circuit in unit tests. */
export async function startProxy(
  target: { host: string; port: number },
  options: ProxyOptions = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const shaper: Shaper = { debt: 0, last: performance.now() }
  const server: Server = createServer(client => {
    sockets.add(client)
    client.on('error', () => {})
    client.on('close', () => sockets.delete(client))
    if (options.blackhole) return
    const upstream = connect(target.port, target.host)
    sockets.add(upstream)
    upstream.on('error', () => {})
    upstream.on('close', () => {
      sockets.delete(upstream)
      client.destroy()
    })
    client.on('close', () => upstream.destroy())
    pipe(client, upstream, options, shaper)
    pipe(upstream, client, options, shaper)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    },
  }
}

/** What a proxy's connections owe its rate together. */
interface Shaper {
  debt: number
  last: number
}

function pipe(src: Socket, dst: Socket, options: ProxyOptions, shaper: Shaper): void {
  let stalled = false
  src.on('data', (chunk: Buffer) => {
    if (options.stallMs !== undefined && !stalled && chunk.length >= 1024) {
      stalled = true
      src.pause()
      setTimeout(() => {
        dst.write(chunk)
        shaper.last = performance.now()
        src.resume()
      }, options.stallMs)
      return
    }
    if (options.flipBits && chunk.length >= 1024) {
      chunk = Buffer.from(chunk)
      chunk[chunk.length >> 1] = (chunk[chunk.length >> 1] as number) ^ 0x10
    }
    dst.write(chunk)
    if (options.rate === undefined) return
    const now = performance.now()
    // a little credit (50 ms) carries over, so a timer that fires late under load costs no throughput
    shaper.debt =
      Math.max(-options.rate / 20, shaper.debt - ((now - shaper.last) * options.rate) / 1000) + chunk.length
    shaper.last = now
    if (shaper.debt > options.rate / 50) {
      src.pause()
      setTimeout(() => src.resume(), (shaper.debt * 1000) / options.rate)
    }
  })
}
