import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { DecodeError } from '../../protocol/errors.ts'
import { answerRequest, IdSet, Reconciler } from '../../ledger/reconcile.ts'
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type SyncRequest,
} from '../../ledger/sync-wire.ts'

const id = (byte: number) => new Uint8Array(32).fill(byte)
const b = (...bytes: number[]) => Uint8Array.from(bytes)
const empty = new Uint8Array(0)

describe('ledger sync wire format', () => {
  it('round-trips a request and a response byte for byte', () => {
    const req: SyncRequest = {
      epoch: 9,
      ranges: [
        { lo: empty, hi: b(0x40), fingerprint: id(1) },
        { lo: b(0x40), hi: empty, fingerprint: empty },
      ],
      wants: [id(2), id(3)],
    }
    const bytes = encodeRequest(req)
    assert.deepEqual(encodeRequest(decodeRequest(bytes)), bytes)
    const res = answerRequest(IdSet.from([id(1), id(0x50)]), decodeRequest(bytes), [])
    const resBytes = encodeResponse(res)
    assert.deepEqual(encodeResponse(decodeResponse(resBytes)), resBytes)
  })

  it('pins the bytes of a request (the format in docs/sync.md)', () => {
    const bytes = encodeRequest({
      epoch: 1,
      ranges: [{ lo: empty, hi: empty, fingerprint: empty }],
      wants: [],
    })
    assert.equal(Buffer.from(bytes).toString('hex'), '840101818340404040')
  })

  it('refuses overlapping, unordered or empty ranges, unsorted wants, bad versions and non-canonical bytes', () => {
    const bad = [
      encode([
        1,
        1,
        [
          [b(5), b(9), empty],
          [b(8), empty, empty],
        ],
        empty,
      ]), // overlap
      encode([1, 1, [[b(9), b(5), empty]], empty]), // lo ≥ hi
      encode([1, 1, [[b(5), b(5), empty]], empty]), // empty range
      encode([1, 1, [[empty, empty, b(1, 2)]], empty]), // fingerprint neither 0 nor 32 bytes
      encode([1, 1, [], Buffer.concat([id(3), id(2)])]), // wants descending
      encode([1, 1, [], new Uint8Array(33)]), // wants not whole ids
      encode([2, 1, [], empty]), // version
      encode([1, 1, [], empty, 0]), // arity
      Uint8Array.of(0x84, 0x01, 0x18, 0x01, 0x80, 0x40), // epoch 1 in two bytes: not canonical
    ]
    for (const bytes of bad)
      assert.throws(() => decodeRequest(bytes), DecodeError, Buffer.from(bytes).toString('hex'))
  })

  it('refuses malformed answers', () => {
    const bad = [
      encode([1, [[3, [], new Uint8Array(32)]], [], 0]), // split without bounds
      encode([1, [[3, [b(1)], new Uint8Array(32)]], [], 0]), // 2 parts, 1 fingerprint
      encode([1, [[1, Buffer.concat([id(2), id(2)])]], [], 0]), // duplicate ids
      encode([1, [[4]], [], 0]), // unknown answer
      encode([1, [], [[2, b(1)]], 0]), // unknown kind
      encode([1, [], [[0, empty]], 0]), // empty body
    ]
    for (const bytes of bad)
      assert.throws(() => decodeResponse(bytes), DecodeError, Buffer.from(bytes).toString('hex'))
  })

  it('a reconciler and a responder converge in memory, learning both directions', () => {
    const ours = Array.from({ length: 500 }, (_, i) =>
      id(0).map((_, j) => (j === 0 ? i >> 8 : j === 1 ? i & 255 : 7)),
    )
    const mine = IdSet.from(ours.filter((_, i) => i % 50 !== 0))
    const theirs = IdSet.from(ours.filter((_, i) => i % 70 !== 0))
    const rec = new Reconciler(mine, 1)
    const wanted: string[] = []
    for (let round = 0; !rec.done && round < 20; round++) {
      const req = decodeRequest(encodeRequest(rec.nextRequest()))
      wanted.push(...req.wants.map(w => Buffer.from(w).toString('hex')))
      rec.acceptResponse(decodeResponse(encodeResponse(answerRequest(theirs, req, []))))
    }
    assert.ok(rec.done)
    assert.equal(wanted.length, ours.filter((_, i) => i % 50 === 0 && i % 70 !== 0).length)
    assert.equal(rec.theyLack.length, ours.filter((_, i) => i % 70 === 0 && i % 50 !== 0).length)
    assert.equal(rec.unavailable, wanted.length)
  })
})
