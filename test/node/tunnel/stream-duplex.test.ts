import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { createHost, type Host } from '../../../node/host/host.ts'
import { streamToDuplex } from '../../../node/tunnel/stream-duplex.ts'

const PROTOCOL = '/weir-test/slow-reader/1.0.0'
const CHUNK = 64 * 1024
const TOTAL = 24 * 1024 * 1024
const BURST = 3 * 1024 * 1024

describe('libp2p stream as a Node Duplex', () => {
  const hosts: Host[] = []
  after(async () => {
    await Promise.all(hosts.map(h => h.stop()))
  })

  const host = async () => {
    const h = await createHost({
      local: true,
      networkId: 'duplex-test',
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    hosts.push(h)
    return h
  }

  // A reader that stops for a while after every few megabytes makes the writer wait for a drain again and
  // again. libp2p's own onDrain() stops waiting after the first drain, and then the writer's data piled
  // up in the stream's write buffer (up to 90 MB in the tunnel benchmark).
  it('holds the writer back while the reader pauses, drain after drain, and delivers every byte', async () => {
    const [writer, reader] = [await host(), await host()]
    const received = createHash('sha256')
    let receivedBytes = 0
    const done = Promise.withResolvers<void>()
    await reader.handle(PROTOCOL, (stream: Stream) => {
      let sinceBreak = 0
      stream.addEventListener('message', evt => {
        for (const buf of evt.data instanceof Uint8Array ? [evt.data] : evt.data) {
          received.update(buf)
          receivedBytes += buf.byteLength
          sinceBreak += buf.byteLength
        }
        if (receivedBytes === TOTAL) done.resolve()
        else if (sinceBreak >= BURST) {
          sinceBreak = 0
          stream.pause()
          setTimeout(() => stream.resume(), 150)
        }
      })
    })

    const stream = await writer.dialProtocol(reader.getMultiaddrs()[0]!, PROTOCOL)
    const duplex = streamToDuplex(stream)
    const sent = createHash('sha256')
    let largestBacklog = 0
    for (let offset = 0; offset < TOTAL; offset += CHUNK) {
      const chunk = Buffer.alloc(CHUNK, offset / CHUNK)
      sent.update(chunk)
      largestBacklog = Math.max(largestBacklog, stream.writeBufferLength)
      if (!duplex.write(chunk)) await once(duplex, 'drain')
    }
    await done.promise
    duplex.destroy()

    // The stream holds at most what one write adds beyond its send window; the Duplex buffers the rest.
    assert.ok(largestBacklog <= 2 * CHUNK, `the stream's write buffer reached ${largestBacklog} bytes`)
    assert.equal(receivedBytes, TOTAL)
    assert.equal(received.digest('hex'), sent.digest('hex'))
  })

  // The other way round: the Duplex reads from a sender faster than its consumer (a relay capped below
  // what its client sends). A pause from inside the stream's resume() was undone by the window update
  // resume() sends, so yamux granted window on every frame into a paused stream until libp2p reset it
  // for overflowing its read buffer, some 40 MiB on.
  it('holds a fast sender back when the Duplex is read slowly: bounded buffers, no reset', async function () {
    this.timeout(60_000)
    const [sender, receiver] = [await host(), await host()]
    const SENT = 48 * 1024 * 1024
    const RATE = 24 * 1024 * 1024
    const result = Promise.withResolvers<{ bytes: number; sha: string; peak: number }>()
    await receiver.handle(PROTOCOL, (stream: Stream) => {
      const duplex = streamToDuplex(stream)
      const hash = createHash('sha256')
      let bytes = 0
      let peak = 0
      duplex.on('data', (chunk: Buffer) => {
        hash.update(chunk)
        bytes += chunk.length
        peak = Math.max(peak, duplex.readableLength + stream.readBufferLength)
        duplex.pause()
        setTimeout(() => duplex.resume(), (chunk.length / RATE) * 1000)
      })
      duplex.on('end', () => result.resolve({ bytes, sha: hash.digest('hex'), peak }))
      duplex.on('error', err => result.reject(err))
    })
    const stream = await sender.dialProtocol(receiver.getMultiaddrs()[0]!, PROTOCOL)
    const sent = createHash('sha256')
    for (let offset = 0; offset < SENT; offset += CHUNK) {
      const chunk = Buffer.alloc(CHUNK, offset / CHUNK)
      sent.update(chunk)
      if (!stream.send(chunk)) {
        await Promise.race([
          once(stream, 'drain'),
          once(stream, 'close').then(() => assert.fail('stream reset')),
        ])
      }
    }
    await stream.close()
    const { bytes, sha, peak } = await result.promise
    assert.equal(bytes, SENT)
    assert.equal(sha, sent.digest('hex'))
    // The Duplex's high-water mark (4 MiB), plus at most two 16 MiB yamux windows.
    assert.ok(peak <= 37 * 1024 * 1024, `the receiving side buffered ${peak} bytes`)
  })
})
