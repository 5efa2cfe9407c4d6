import { Duplex } from 'node:stream'
import type { MessageStream, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'

const HIGH_WATER_MARK = 4 * 1024 * 1024

/** What a Duplex can be made of: a libp2p stream, or a channel layered on one (node/tunnel/exit-channel.ts). */
export type DuplexSource = MessageStream & Pick<Stream, 'readStatus'>

/**
 * A libp2p stream as a Node Duplex, with back-pressure both ways: a full Duplex read buffer pauses the
 * libp2p stream (yamux then stops granting window), and a full libp2p send buffer holds the write
 * callback until 'drain'. Chunks are passed through without copying. Ending the Duplex half-closes the
 * stream; destroying it resets the stream.
 */
export function streamToDuplex(stream: DuplexSource): Duplex {
  // The write waiting for the stream to take more. Not stream.onDrain(): @libp2p/utils 7.4 keeps the first
  // drain's resolved promise, so after one drain onDrain() no longer waits, and a fast writer piled up to
  // 90 MB in the yamux stream's write buffer (whose every send then walked a list of ~1,400 chunks).
  let pendingWrite: ((err?: Error | null) => void) | undefined
  const settleWrite = (err?: Error) => {
    const callback = pendingWrite
    pendingWrite = undefined
    callback?.(err)
  }
  const onDrain = () => settleWrite()
  // stream.resume() hands over what it buffered while paused, then sends yamux a window update. A pause
  // from inside that hand-over is undone by the update (yamux then grants window on every frame into a
  // stream that buffers them all, until its read buffer overflows and libp2p resets it), so it waits
  // until resume() has returned.
  let resuming = false
  let pauseAfterResume = false
  const pause = () => {
    if (stream.readStatus === 'readable') stream.pause()
  }
  const onMessage = (evt: StreamMessageEvent) => {
    let more = true
    if (evt.data instanceof Uint8Array) more = duplex.push(evt.data)
    else for (const buf of evt.data) more = duplex.push(buf)
    if (more) return
    if (resuming) pauseAfterResume = true
    else pause()
  }
  const onEnd = () => duplex.push(null)
  const onClose = (evt: StreamCloseEvent) => {
    settleWrite(evt.error ?? new Error('stream closed'))
    if (evt.error !== undefined) duplex.destroy(evt.error)
    else if (!stream.readableEnded) duplex.push(null)
  }
  const detach = () => {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('end', onEnd)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('drain', onDrain)
  }

  const duplex = new Duplex({
    allowHalfOpen: true,
    // Node's 16 KiB default would pause the libp2p stream after every message, and each pause stops
    // yamux window updates: the sender then idles for a round trip. Buffer about a window's worth.
    readableHighWaterMark: HIGH_WATER_MARK,
    writableHighWaterMark: HIGH_WATER_MARK,
    read() {
      if (stream.readStatus !== 'paused') return
      resuming = true
      try {
        stream.resume()
      } finally {
        resuming = false
      }
      if (pauseAfterResume) pause()
      pauseAfterResume = false
    },
    write(chunk: Uint8Array, _encoding, callback) {
      try {
        if (stream.send(chunk)) callback()
        else pendingWrite = callback
      } catch (err) {
        callback(err as Error)
      }
    },
    final(callback) {
      stream.close().then(() => callback(), callback)
    },
    destroy(err, callback) {
      detach()
      if (stream.status === 'open' || stream.status === 'closing') {
        stream.abort(err ?? new Error('tunnel closed'))
      }
      callback(err)
    },
  })

  stream.addEventListener('message', onMessage)
  stream.addEventListener('end', onEnd)
  stream.addEventListener('close', onClose)
  stream.addEventListener('drain', onDrain)
  if (stream.readableEnded && stream.readBufferLength === 0) duplex.push(null)
  return duplex
}
