import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { createHost, type Host } from '../../../node/host/host.ts'
import { acceptExitChannel, openExitChannel } from '../../../node/tunnel/exit-channel.ts'
import { streamToDuplex } from '../../../node/tunnel/stream-duplex.ts'

const NET = 'exit-channel-test'
const PROTOCOL = '/exit-channel-test/1.0.0'

describe('the exit channel over a libp2p stream', () => {
  let relay: Host
  let client: Host
  let relayKey: Awaited<ReturnType<typeof generateKeyPair>>

  before(async () => {
    relayKey = await generateKeyPair('Ed25519')
    ;[relay, client] = await Promise.all([
      createHost({ local: true, networkId: NET, privateKey: relayKey, listen: ['/ip4/127.0.0.1/tcp/0'] }),
      createHost({ local: true, networkId: NET, privateKey: await generateKeyPair('Ed25519'), listen: [] }),
    ])
  })

  after(async () => {
    await Promise.all([relay.stop(), client.stop()])
  })

  it('hands over every byte sent before the end, also when the end arrives while the relay is paused', async () => {
    // The relay's side stays paused until the client's end (FIN) has arrived, so the client's frames wait
    // in the libp2p stream's buffer behind the end: all of them must still be read, then the end.
    const received = new Promise<Buffer>((resolve, reject) => {
      void relay.handle(PROTOCOL, async (stream: Stream) => {
        try {
          const secured = await acceptExitChannel(stream, relayKey, NET, relay.logger)
          secured.pause()
          if (stream.remoteWriteStatus !== 'closed')
            await new Promise(r => stream.addEventListener('remoteCloseWrite', r, { once: true }))
          const chunks: Buffer[] = []
          for await (const chunk of streamToDuplex(secured)) chunks.push(chunk)
          resolve(Buffer.concat(chunks))
        } catch (err) {
          reject(err)
        }
      })
    })
    const stream = await client.dialProtocol(relay.getMultiaddrs()[0]!, PROTOCOL)
    const channel = await openExitChannel(stream, relay.peerId, NET, client.logger)
    await sleep(100)
    // 20 frames, within yamux's first window, so all of them and the end arrive while the relay is paused
    const payload = randomBytes(200 * 1024)
    for (let at = 0; at < payload.length; at += 10 * 1024) channel.send(payload.subarray(at, at + 10 * 1024))
    await channel.close()
    const got = await received
    assert.equal(got.length, payload.length)
    assert.ok(got.equals(payload))
  })
})
