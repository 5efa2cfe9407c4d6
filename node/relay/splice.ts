import type { Duplex } from 'node:stream'
import type { TokenBucket } from './token-bucket.ts'

export interface SpliceOptions {
  /** Shared shaper: every byte in either direction spends a token. */
  bucket?: Pick<TokenBucket, 'take'>
  /** Called for every chunk: `in` is client → target, `out` is target → client. */
  onBytes?: (direction: 'in' | 'out', bytes: number) => void
  /** Tear the circuit down after this long without a byte either way. */
  idleTimeoutMs?: number
}

export class IdleTimeoutError extends Error {
  override name = 'IdleTimeoutError'
}

/**
 * Pumps bytes both ways between `client` and `target` with back-pressure, shaping and metering until
 * both are closed. An end (half-close) is passed on; an error or a close before both directions
 * ended tears down the other side too, so a dead client never leaves a tunnel behind.
 */
export function splice(client: Duplex, target: Duplex, options: SpliceOptions = {}): Promise<void> {
  let lastActivity = performance.now()
  const touch = () => {
    lastActivity = performance.now()
  }
  forward(client, target, 'in', options, touch)
  forward(target, client, 'out', options, touch)

  const idleMs = options.idleTimeoutMs
  const idleTimer =
    idleMs === undefined
      ? undefined
      : setInterval(
          () => {
            if (performance.now() - lastActivity < idleMs) return
            const err = new IdleTimeoutError(`no traffic for ${idleMs} ms`)
            client.destroy(err)
            target.destroy(err)
          },
          Math.max(50, idleMs / 4),
        )

  return new Promise(resolve => {
    let closed = 0
    for (const [side, other] of [
      [client, target],
      [target, client],
    ] as const) {
      side.on('error', () => {})
      side.on('close', () => {
        if (!(side.readableEnded && other.readableEnded)) other.destroy()
        if (++closed === 2) {
          clearInterval(idleTimer)
          resolve()
        }
      })
    }
  })
}

function forward(
  src: Duplex,
  dst: Duplex,
  direction: 'in' | 'out',
  options: SpliceOptions,
  touch: () => void,
): void {
  let waitingForDrain = false
  let waitingForTokens = false
  const resumeIfFree = () => {
    if (!waitingForDrain && !waitingForTokens && !src.destroyed) src.resume()
  }
  src.on('data', (chunk: Buffer) => {
    touch()
    options.onBytes?.(direction, chunk.length)
    if (!dst.write(chunk)) {
      waitingForDrain = true
      src.pause()
    }
    const wait = options.bucket?.take(chunk.length) ?? 0
    if (wait > 0) {
      waitingForTokens = true
      src.pause()
      setTimeout(() => {
        waitingForTokens = false
        resumeIfFree()
      }, wait)
    }
  })
  dst.on('drain', () => {
    waitingForDrain = false
    resumeIfFree()
  })
  src.on('end', () => dst.end())
}
