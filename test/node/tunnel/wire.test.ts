import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  REPLY_CODES,
  socksReply,
  TunnelWireError,
} from '../../../node/tunnel/wire.ts'

describe('tunnel wire format', () => {
  it('round-trips exit and hop requests', async () => {
    const exit = { kind: 'exit' as const, host: 'example.com', port: 443 }
    assert.deepEqual(decodeRequest(encodeRequest(exit)), exit)
    assert.deepEqual([...encodeRequest({ kind: 'exit', host: '::1', port: 258 })], [2, 1, 1, 2, 58, 58, 49])
    const relay = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const hop = decodeRequest(encodeRequest({ kind: 'hop', relay }))
    assert(hop.kind === 'hop' && hop.relay.equals(relay))
    assert.deepEqual([...encodeRequest({ kind: 'forwarded' })], [2, 3])
    assert.deepEqual(decodeRequest(Uint8Array.of(2, 3)), { kind: 'forwarded' })
  })

  it('rejects every malformed request with a typed error, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), bytes => {
        try {
          const target = decodeRequest(bytes)
          assert.deepEqual(decodeRequest(encodeRequest(target)), target)
        } catch (err) {
          assert(err instanceof TunnelWireError, String(err))
        }
      }),
      { numRuns: 2000 },
    )
    for (const bad of [
      [],
      [2],
      [2, 1, 0, 0, 65],
      [2, 1, 0, 80],
      [2, 1, 0, 80, 0x20],
      [2, 9, 0, 80, 65],
      [2, 3, 0],
      [1, 1, 0, 80, 65],
      [1, 3],
    ]) {
      assert.throws(() => decodeRequest(Uint8Array.from(bad)), TunnelWireError)
    }
    assert.throws(
      () => decodeRequest(Uint8Array.from([2, 1, 0, 80, ...Buffer.from('a'.repeat(600))])),
      TunnelWireError,
    )
  })

  it('maps every reply code to a SOCKS5 reply, with exit-policy refusals as 0x02', () => {
    for (const code of REPLY_CODES) assert.equal(decodeReply(encodeReply(code)), code)
    assert.equal(socksReply('ok'), 0x00)
    assert.equal(socksReply('policy'), 0x02)
    assert.equal(socksReply('port'), 0x02)
    assert.equal(socksReply('refused'), 0x05)
    assert.throws(() => decodeReply(Uint8Array.of(2, 200)), TunnelWireError)
    assert.throws(() => decodeReply(Uint8Array.of(2, 0, 0)), TunnelWireError)
    assert.throws(() => decodeReply(Uint8Array.of(1, 0)), TunnelWireError)
  })
})
