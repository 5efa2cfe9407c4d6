// libp2p v3 targets Node 22+. On Node 20 it needs Promise.withResolvers and, to dial WebSockets, a
// global WebSocket. Every entry point imports this module before anything that loads libp2p.
import { WebSocket } from 'ws'

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

// `ws` also emits 'error' as a Node event, which crashes the process when nobody listens that way:
// libp2p listens with addEventListener only, so a refused WebSocket dial would kill the node.
class QuietWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

if (typeof globalThis.WebSocket === 'undefined') {
  ;(globalThis as { WebSocket?: unknown }).WebSocket = QuietWebSocket
}
