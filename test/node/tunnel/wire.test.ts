import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import fc from 'fast-check'
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  exitChannelPrologue,
  MAX_REPLY_BYTES,
  MAX_REQUEST_BYTES,
  REPLY_CODES,
  type ReplyCode,
  socksReply,
  type TunnelRequest,
  TunnelWireError,
} from '../../../node/tunnel/wire.ts'
import { parseHex, to0x } from '../../../protocol/bytes.ts'

describe('tunnel wire format', () => {
  it('round-trips exit and hop requests', async () => {
    const exit = { kind: 'exit' as const, host: 'example.com', port: 443 }
    assert.deepEqual(decodeRequest(encodeRequest(exit)), exit)
    assert.deepEqual(
      [...encodeRequest({ kind: 'exit', host: '::1', port: 258 }, 2)],
      [3, 1, 2, 0, 0, 1, 2, 58, 58, 49],
    )
    const relay = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const hop = decodeRequest(encodeRequest({ kind: 'hop', relay }))
    assert(hop.kind === 'hop' && hop.relay.equals(relay))
    assert.deepEqual([...encodeRequest({ kind: 'forwarded' }, 1)], [3, 3, 1, 0])
    assert.deepEqual(decodeRequest(Uint8Array.of(3, 3, 1, 0)), { kind: 'forwarded' })
  })

  it('pads every request and reply to a random size', () => {
    const exit = { kind: 'exit' as const, host: '127.0.0.1', port: 9000 }
    const sizes = (encode: () => Uint8Array) => new Set(Array.from({ length: 50 }, () => encode().length))
    // 50 draws from 256 lengths: all equal has odds of 256^-49
    assert.ok(sizes(() => encodeRequest(exit)).size > 1)
    assert.ok(sizes(() => encodeReply('ok')).size > 1)
    assert.equal(
      encodeRequest({ kind: 'exit', host: 'a'.repeat(255), port: 1 }, 255).length,
      MAX_REQUEST_BYTES,
    )
    assert.equal(encodeReply('ok', 255).length, MAX_REPLY_BYTES)
    assert.throws(() => encodeReply('ok', 256), TunnelWireError)
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
      [3],
      [3, 1],
      [3, 1, 0, 0, 0, 65],
      [3, 1, 0, 0, 80],
      [3, 1, 0, 0, 80, 0x20],
      [3, 9, 0, 0, 80, 65],
      [3, 1, 1, 0, 80, 65],
      [3, 1, 1, 7, 0, 80, 65],
      [2, 1, 0, 0, 80, 65],
      [4, 1, 0, 0, 80, 65],
      [3, 3, 0, 7],
    ]) {
      assert.throws(() => decodeRequest(Uint8Array.from(bad)), TunnelWireError, JSON.stringify(bad))
    }
    assert.throws(
      () => decodeRequest(Uint8Array.from([3, 1, 0, 0, 80, ...Buffer.from('a'.repeat(600))])),
      TunnelWireError,
    )
  })

  it('tells a peer of an older wire version what is wrong', () => {
    // version 1: no padding byte
    assert.throws(
      () => decodeRequest(Uint8Array.from([1, 1, 0, 80, 65])),
      /tunnel request of wire version 1; this node speaks version 3/,
    )
    assert.throws(
      () => decodeReply(Uint8Array.of(1, 0)),
      /tunnel reply of wire version 1; this node speaks version 3/,
    )
    // version 2: the same frames, but its 2-hop circuits send the exit request in the clear
    assert.throws(
      () => decodeRequest(Uint8Array.from([2, 1, 0, 0, 80, 65])),
      /tunnel request of wire version 2; this node speaks version 3/,
    )
    assert.throws(() => decodeReply(Uint8Array.of(2, 0, 0)), /tunnel reply of wire version 2/)
  })

  it('maps every reply code to a SOCKS5 reply, with exit-policy refusals as 0x02', () => {
    for (const code of REPLY_CODES) assert.equal(decodeReply(encodeReply(code)), code)
    assert.equal(socksReply('ok'), 0x00)
    assert.equal(socksReply('policy'), 0x02)
    assert.equal(socksReply('port'), 0x02)
    assert.equal(socksReply('refused'), 0x05)
    for (const bad of [
      [3, 200, 0],
      [3, 0],
      [3, 0, 0, 0],
      [3, 0, 1, 1],
      [3, 0, 2, 0],
    ]) {
      assert.throws(() => decodeReply(Uint8Array.from(bad)), TunnelWireError, JSON.stringify(bad))
    }
  })

  it('reproduces the pinned vectors (test/vectors/tunnel-wire.json)', () => {
    const vectors = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../vectors/tunnel-wire.json'), 'utf8'),
    ) as {
      exitChannel: { network: string; prologue: string }
      requests: Array<{
        target: { kind: string; host?: string; port?: number; relay?: string }
        padding: number
        bytes: string
      }>
      replies: Array<{ code: ReplyCode; padding: number; bytes: string }>
    }
    assert.equal(to0x(exitChannelPrologue(vectors.exitChannel.network)), vectors.exitChannel.prologue)
    for (const v of vectors.requests) {
      const target = (
        v.target.kind === 'hop'
          ? { kind: 'hop', relay: peerIdFromString(v.target.relay as string) }
          : v.target
      ) as TunnelRequest
      assert.equal(to0x(encodeRequest(target, v.padding)), v.bytes)
      const decoded = decodeRequest(parseHex(v.bytes) as Uint8Array)
      assert.equal(to0x(encodeRequest(decoded, v.padding)), v.bytes)
    }
    for (const v of vectors.replies) {
      assert.equal(to0x(encodeReply(v.code, v.padding)), v.bytes)
      assert.equal(decodeReply(parseHex(v.bytes) as Uint8Array), v.code)
    }
  })
})
