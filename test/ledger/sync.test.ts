import assert from 'node:assert/strict'
import type { Libp2p, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import fc from 'fast-check'
import { compareBytes, toHex } from '../../protocol/bytes.ts'
import { itemId } from '../../protocol/record.ts'
import { answerRequest, IdSet } from '../../ledger/reconcile.ts'
import {
  handleSync,
  type SyncClientLimits,
  type SyncItem,
  type SyncResult,
  type SyncSource,
  syncEpoch,
  SyncError,
} from '../../ledger/sync.ts'
import {
  decodeRequest,
  encodeResponse,
  MAX_MESSAGE_BYTES,
  type SyncRequest,
  type SyncResponse,
} from '../../ledger/sync-wire.ts'
import { createNode, item, MemorySource } from './sync-helpers.ts'

const PROTOCOL = '/weir/test/sync/1.0.0'
const EPOCH = 7

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

/** A SyncSource whose content a test swaps between runs, so one handler serves many cases. */
class Swappable implements SyncSource {
  current = new MemorySource()
  ids() {
    return this.current.ids()
  }
  bodies(epoch: number, ids: Uint8Array[]) {
    return this.current.bodies(epoch, ids)
  }
}

describe('ledger anti-entropy sync over libp2p', () => {
  let a: Libp2p
  let b: Libp2p
  const atA = new Swappable()
  const atB = new Swappable()

  before(async () => {
    a = await createNode()
    b = await createNode()
    await handleSync(a, PROTOCOL, atA)
    await handleSync(b, PROTOCOL, atB)
  })

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  /** `from` pulls from `to` (whose handler serves `toSource`), storing what it receives. */
  async function pull(from: Libp2p, to: Libp2p, fromSource: MemorySource): Promise<SyncResult> {
    return syncEpoch(from, to.getMultiaddrs()[0]!, PROTOCOL, EPOCH, fromSource, items => {
      for (const i of items) fromSource.add(i)
    })
  }

  /** Both directions: a pulls from b, then b pulls from a. */
  async function reconcile(sa: MemorySource, sb: MemorySource): Promise<[SyncResult, SyncResult]> {
    atA.current = sa
    atB.current = sb
    const inB = new Set(sb.keys())
    const theyLackBefore = sa.keys().filter(k => !inB.has(k))
    const inA = new Set(sa.keys())
    const theyHaveBefore = sb.keys().filter(k => !inA.has(k))
    const ab = await pull(a, b, sa)
    assert.deepEqual(ab.theyLack.map(toHex).sort(), theyLackBefore)
    assert.deepEqual(ab.theyHave.map(toHex).sort(), theyHaveBefore.sort())
    const ba = await pull(b, a, sb)
    assert.deepEqual(ba.theyLack, [])
    return [ab, ba]
  }

  it('100,000 ids differing by 10 (5 each side): both end with the union in under 64 KiB', async () => {
    const shared = range(0, 99_995)
    const sa = MemorySource.of([...shared, ...range(200_000, 200_005)])
    const sb = MemorySource.of([...shared, ...range(300_000, 300_005)])
    const union = [...new Set([...sa.keys(), ...sb.keys()])].sort()
    const [ab, ba] = await reconcile(sa, sb)
    assert.deepEqual(sa.keys(), union)
    assert.deepEqual(sb.keys(), union)
    assert.equal(ab.received, 5)
    assert.equal(ab.theyLack.length, 5)
    assert.equal(ba.received, 5)
    const bytes = ab.bytesSent + ab.bytesReceived + ba.bytesSent + ba.bytesReceived
    console.log(
      `      a<-b: ${ab.rounds} rounds, ${ab.bytesSent} B sent, ${ab.bytesReceived} B received; ` +
        `b<-a: ${ba.rounds} rounds, ${ba.bytesSent + ba.bytesReceived} B; total ${bytes} B`,
    )
    assert.ok(bytes < 64 * 1024, `${bytes} bytes`)
  })

  it('identical sets: one round, a few bytes', async () => {
    const s = range(0, 5000)
    const [ab] = await reconcile(MemorySource.of(s), MemorySource.of(s))
    assert.equal(ab.rounds, 1)
    assert.equal(ab.received, 0)
    assert.ok(ab.bytesSent + ab.bytesReceived < 100, `${ab.bytesSent + ab.bytesReceived} bytes`)
  })

  it('disjoint sets end with the union', async () => {
    const sa = MemorySource.of(range(0, 300))
    const sb = MemorySource.of(range(1000, 1500))
    await reconcile(sa, sb)
    assert.deepEqual(sa.keys(), MemorySource.of([...range(0, 300), ...range(1000, 1500)]).keys())
    assert.deepEqual(sb.keys(), sa.keys())
  })

  it('empty against non-empty, both ways, including more ids than one response carries', async () => {
    const full = range(0, 20_000)
    const sa = new MemorySource()
    const [ab, ba] = await reconcile(sa, MemorySource.of(full))
    assert.equal(ab.received, 20_000)
    assert.ok(ab.rounds > 2)
    assert.equal(ba.rounds, 1)
    assert.deepEqual(sa.keys(), MemorySource.of(full).keys())
    const sb = new MemorySource()
    const [ab2] = await reconcile(MemorySource.of(range(0, 50)), sb)
    assert.equal(ab2.theyLack.length, 50)
    assert.equal(sb.keys().length, 50)
  })

  it('property: for random pairs of sets both sides end with the union', async () => {
    const universe = fc.integer({ min: 0, max: 3000 })
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(universe, { maxLength: 600 }),
        fc.uniqueArray(universe, { maxLength: 600 }),
        async (xs, ys) => {
          const sa = MemorySource.of(xs)
          const sb = MemorySource.of(ys)
          await reconcile(sa, sb)
          const union = MemorySource.of([...xs, ...ys]).keys()
          assert.deepEqual(sa.keys(), union)
          assert.deepEqual(sb.keys(), union)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('a peer sending garbage makes the listener drop the stream and keep serving', async () => {
    atB.current = MemorySource.of(range(0, 10))
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(Uint8Array.of(0xff, 0x00, 0x13))
    await assert.rejects(lp.read({ signal: AbortSignal.timeout(5000) }))
    const sa = new MemorySource()
    const r = await pull(a, b, sa)
    assert.equal(r.received, 10)
  })
})

describe('ledger anti-entropy sync against a hostile peer', () => {
  let client: Libp2p
  let hostile: Libp2p
  const mine = MemorySource.of(range(0, 2000))
  const honest = MemorySource.of(range(1000, 3000))
  let protocolNo = 0

  before(async () => {
    client = await createNode()
    hostile = await createNode()
  })

  after(async () => {
    await Promise.all([client?.stop(), hostile?.stop()])
  })

  /** Registers a handler that reads requests and answers each with `answer(request)` (raw frame bytes). */
  async function misbehave(answer: (req: SyncRequest, raw: Uint8Array) => Uint8Array | undefined) {
    const protocol = `/weir/test/hostile/${++protocolNo}`
    await hostile.handle(protocol, async (stream: Stream) => {
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      try {
        for (;;) {
          const raw = (await lp.read()).subarray()
          const reply = answer(decodeRequest(raw), raw)
          if (reply === undefined) return // hang: never answer
          await lp.write(reply)
        }
      } catch {
        stream.abort(new Error('done'))
      }
    })
    return protocol
  }

  async function syncWith(protocol: string, limits: SyncClientLimits = {}) {
    const delivered: SyncItem[] = []
    try {
      const result = await syncEpoch(
        client,
        hostile.getMultiaddrs()[0]!,
        protocol,
        EPOCH,
        mine,
        items => {
          delivered.push(...items)
        },
        { maxRounds: 64, timeoutMs: 10_000, ...limits },
      )
      return { result, delivered, error: undefined }
    } catch (error) {
      assert.ok(error instanceof SyncError, String(error))
      assert.ok(error.partial)
      return { result: error.partial, delivered, error }
    }
  }

  const honestAnswer = (req: SyncRequest): SyncResponse =>
    answerRequest(IdSet.from(honest.ids()), req, honest.bodies(EPOCH, req.wants))

  it('garbage answers: protocol error', async () => {
    const { error } = await syncWith(await misbehave(() => Uint8Array.of(0x9f, 0x01, 0x02)))
    assert.equal(error?.code, 'protocol')
  })

  it('an oversize frame is refused before it is read', async () => {
    const protocol = `/weir/test/hostile/${++protocolNo}`
    await hostile.handle(protocol, async (stream: Stream) => {
      // a length prefix announcing 64 MiB, then some of it
      stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x20))
      stream.send(new Uint8Array(64 * 1024))
    })
    const { error, result } = await syncWith(protocol)
    assert.equal(error?.code, 'protocol')
    assert.ok(result.bytesReceived === 0)
  })

  it('infinite descent (ever finer splits with fresh fingerprints): stops at a limit', async () => {
    let answered = 0
    const protocol = await misbehave(req => {
      answered++
      const answers = req.ranges.map(r => {
        // listings: "nothing here"; comparisons: split again into 16 finer parts wherever they fit
        if (r.fingerprint.length === 0) return { type: 'ids' as const, ids: [], complete: true }
        const bounds = [[], [0]]
          .map(pad => range(1, 16).map(k => Buffer.concat([r.lo, Uint8Array.of(...pad, k * 16)])))
          .find(b => b[0]!.length <= 33 && (r.hi.length === 0 || compareBytes(b[14]!, r.hi) < 0))
        if (!bounds) return { type: 'ids' as const, ids: [], complete: false }
        const fingerprints = range(0, 16).map(() => crypto.getRandomValues(new Uint8Array(32)))
        return { type: 'split' as const, bounds, fingerprints }
      })
      return encodeResponse({ answers, bodies: [], served: 0 })
    })
    // bounds are at most 33 bytes, so even unlimited the descent ends ("no progress") within maxRounds
    const unlimited = await syncWith(protocol)
    assert.ok(['protocol', 'limit'].includes(unlimited.error?.code ?? ''), String(unlimited.error))
    assert.ok(unlimited.result.rounds <= 64 && answered <= 64)
    for (const limits of [{ maxRounds: 8 }, { maxPending: 500 }]) {
      const { error, result } = await syncWith(protocol, limits)
      assert.equal(error?.code, 'limit', String(error))
      console.log(
        `      descent with ${JSON.stringify(limits)}: stopped after ${result.rounds} rounds: ${error.message}`,
      )
    }
    console.log(
      `      unlimited descent: stopped after ${unlimited.result.rounds} rounds: ${unlimited.error?.message}`,
    )
  })

  it('a peer that never answers: timeout', async () => {
    const { error } = await syncWith(await misbehave(() => undefined), { timeoutMs: 500 })
    assert.equal(error?.code, 'timeout')
  })

  it('listed ids outside the asked range: protocol error', async () => {
    let round = 0
    const protocol = await misbehave(req => {
      // an honest first round narrows the ranges; then each is answered with an id outside it
      if (round++ === 0) return encodeResponse(honestAnswer(req))
      const answers = req.ranges.map(r => {
        const outside = new Uint8Array(32).fill(r.hi.length > 0 ? 0xff : 0)
        return { type: 'ids' as const, ids: [outside], complete: true }
      })
      return encodeResponse({ answers, bodies: [], served: 0 })
    })
    const { error, delivered } = await syncWith(protocol)
    assert.equal(error?.code, 'protocol')
    assert.match(error.message, /out of range/)
    assert.equal(delivered.length, 0)
  })

  it('bodies that were not asked for are dropped, never delivered', async () => {
    const extra = range(50_000, 50_020).map(item)
    const protocol = await misbehave(req => {
      const res = honestAnswer(req)
      return encodeResponse({ ...res, bodies: [...res.bodies, ...extra] })
    })
    const { result, delivered, error } = await syncWith(protocol)
    assert.equal(error, undefined)
    const held = new Set(mine.keys())
    const asked = new Set(honest.keys().filter(k => !held.has(k)))
    assert.equal(delivered.length, asked.size)
    for (const d of delivered) assert.ok(asked.has(toHex(itemId(d.kind, d.bytes))))
    assert.ok(result.dropped >= extra.length)
  })
})
