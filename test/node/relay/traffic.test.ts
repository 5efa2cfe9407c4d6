import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encode } from 'cborg'
import fc from 'fast-check'
import { TrafficLog } from '../../../node/relay/traffic-log.ts'
import {
  decodeTrafficReport,
  decodeTrafficRequest,
  encodeTrafficReport,
  encodeTrafficRequest,
  MAX_SPAN_MS,
  MAX_TOTALS,
  type TrafficTotals,
} from '../../../node/relay/traffic-wire.ts'
import { capacityOf } from '../../../protocol/attestation.ts'
import { parseHex, to0x } from '../../../protocol/bytes.ts'
import { DecodeError } from '../../../protocol/errors.ts'
import { backgroundBps, type SteadySpan } from '../../../witness/background.ts'

const vectors = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../vectors/traffic-report.json'), 'utf8'),
) as {
  requests: { fromMs: number; toMs: number; bytes: string }[]
  reports: { totals: TrafficTotals[]; bytes: string }[]
}

const refused = (code: DecodeError['code']) => (err: unknown) =>
  err instanceof DecodeError && err.code === code

describe('traffic report wire format', () => {
  it('reproduces and decodes the pinned vectors', () => {
    for (const v of vectors.requests) {
      const request = { fromMs: v.fromMs, toMs: v.toMs }
      assert.equal(to0x(encodeTrafficRequest(request)), v.bytes)
      assert.deepEqual(decodeTrafficRequest(parseHex(v.bytes) as Uint8Array), request)
    }
    for (const v of vectors.reports) {
      assert.equal(to0x(encodeTrafficReport(v.totals)), v.bytes)
      assert.deepEqual(decodeTrafficReport(parseHex(v.bytes) as Uint8Array), v.totals)
    }
  })

  it('refuses spans that are empty, backwards or too long, and requests not in canonical form', () => {
    const request = (fields: unknown[]) => new Uint8Array(encode(fields))
    assert.throws(() => decodeTrafficRequest(request([1, 10, 10])), refused('field'))
    assert.throws(() => decodeTrafficRequest(request([1, 10, 5])), refused('field'))
    assert.throws(() => decodeTrafficRequest(request([1, 0, MAX_SPAN_MS + 1])), refused('field'))
    assert.throws(() => decodeTrafficRequest(request([2, 0, 1000])), refused('version'))
    assert.throws(() => decodeTrafficRequest(request([1, 0])), refused('malformed'))
    // 1000 as a four-byte integer: well-formed CBOR, not the shortest form
    assert.throws(
      () => decodeTrafficRequest(Uint8Array.of(0x83, 1, 0, 0x1a, 0, 0, 3, 0xe8)),
      refused('noncanonical'),
    )
    assert.throws(() => encodeTrafficRequest({ fromMs: 5, toMs: 5 }), refused('field'))
  })

  it('refuses totals that go back in time or shrink, ragged or over-long totals, and oversize reports', () => {
    const report = (packed: Uint8Array) => new Uint8Array(encode([1, packed]))
    const packedOf = (totals: [number, number, number][]) => {
      const b = Buffer.alloc(totals.length * 24)
      totals.forEach(([t, i, o], k) => {
        b.writeBigUInt64BE(BigInt(t), k * 24)
        b.writeBigUInt64BE(BigInt(i), k * 24 + 8)
        b.writeBigUInt64BE(BigInt(o), k * 24 + 16)
      })
      return new Uint8Array(b)
    }
    assert.equal(
      decodeTrafficReport(
        report(
          packedOf([
            [1, 2, 3],
            [2, 2, 3],
          ]),
        ),
      ).length,
      2,
    )
    // a time that does not advance, and totals in or out that shrink
    const backwards: [number, number, number][][] = [
      [
        [2, 2, 3],
        [2, 2, 3],
      ],
      [
        [1, 2, 3],
        [2, 1, 3],
      ],
      [
        [1, 2, 3],
        [2, 2, 2],
      ],
    ]
    for (const totals of backwards)
      assert.throws(
        () => decodeTrafficReport(report(packedOf(totals))),
        refused('field'),
        JSON.stringify(totals),
      )
    assert.throws(() => decodeTrafficReport(report(packedOf([[1, 2, 3]]).subarray(0, 23))), refused('field'))
    const huge = packedOf([[1, 2, 3]])
    huge[8] = 0x01
    assert.throws(() => decodeTrafficReport(report(huge)), refused('field'))
    const many = packedOf(Array.from({ length: MAX_TOTALS + 1 }, (_, k) => [k + 1, k, k]))
    assert.throws(() => decodeTrafficReport(report(many)), refused('oversize'))
    assert.throws(
      () => decodeTrafficReport(report(many.subarray(0, MAX_TOTALS * 24 + 24))),
      refused('oversize'),
    )
  })
})

describe('traffic log', () => {
  it('keeps the totals once a second and hands out those around a span, reading afresh for one still open', () => {
    let now = 1_000_000
    const counts = { bytesIn: 0, bytesOut: 0 }
    const log = new TrafficLog(
      () => counts,
      () => now,
    )
    for (let s = 0; s < 10; s++) {
      counts.bytesIn += 1000
      counts.bytesOut += 10
      log.sample()
      now += 1000
    }
    // kept at 1_000_000 … 1_009_000; asked at 1_010_000
    const inner = log.between(1_002_500, 1_005_500)
    assert.deepEqual(
      inner.map(s => s.t),
      [1_002_000, 1_003_000, 1_004_000, 1_005_000, 1_006_000],
    )
    const open = log.between(1_008_500, 1_012_000)
    assert.deepEqual(
      open.map(s => s.t),
      [1_008_000, 1_009_000, 1_010_000],
    )
    assert.equal(log.between(0, 1_000_000)[0]?.t, 1_000_000)
  })
})

describe('background of a probe window', () => {
  const span: SteadySpan = { fromMs: 10_000, toMs: 18_000, bytes: 8 * 1_000_000 }
  /** A relay carrying `inBps` from clients and `outBps` back to them, its totals once a second. */
  const totals = (inBps: number, outBps: number, from = 9_000, to = 19_000): TrafficTotals[] =>
    Array.from({ length: (to - from) / 1000 + 1 }, (_, k) => ({
      t: from + k * 1000,
      bytesIn: k * inBps,
      bytesOut: k * outBps,
    }))

  it('is what the relay carried besides the probe, both directions, in bytes a second, never below 0', () => {
    assert.equal(backgroundBps(totals(1_250_000, 0), span), 250_000)
    assert.equal(backgroundBps(totals(1_000_000, 0), span), 0)
    assert.equal(backgroundBps(totals(900_000, 0), span), 0)
    // its users' downloads take from the same cap as the probe's upload
    assert.equal(backgroundBps(totals(1_100_000, 300_000), span), 400_000)
  })

  it('interpolates between totals, and is undefined when the totals do not cover the window', () => {
    const half = { ...span, fromMs: 10_500, toMs: 17_500, bytes: 7_000_000 }
    assert.equal(backgroundBps(totals(1_500_000, 0), half), 500_000)
    assert.equal(backgroundBps(totals(1_500_000, 0, 11_000), span), undefined)
    assert.equal(backgroundBps(totals(1_500_000, 0, 9_000, 17_000), span), undefined)
    assert.equal(backgroundBps([], span), undefined)
  })

  it('gains a relay that reports any totals at all at most a third more than its probe read', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 })), {
          minLength: 12,
          maxLength: 12,
        }),
        fc.nat({ max: 2 ** 30 }),
        fc.nat({ max: 2 ** 30 }),
        (steps, forwardBps, reverseBps) => {
          const running = { bytesIn: 0, bytesOut: 0 }
          const reported = steps.map(([i, o], k) => {
            running.bytesIn += i
            running.bytesOut += o
            return { t: 8_000 + k * 1000, ...running }
          })
          const reverseSpan = { fromMs: 11_000, toMs: 17_000, bytes: 6 * reverseBps }
          const background = {
            forwardBps: backgroundBps(reported, { ...span, bytes: 8 * forwardBps }) as number,
            reverseBps: backgroundBps(reported, reverseSpan) as number,
          }
          const read = { outcome: 'ok' as const, forwardBps, reverseBps }
          const probeOnly = capacityOf({ ...attestation, ...read })
          const credited = capacityOf({ ...attestation, ...read, background })
          return credited >= probeOnly && credited <= probeOnly + Math.floor(probeOnly / 3)
        },
      ),
    )
  })
})

const attestation = {
  net: 'n',
  epoch: 0,
  relay: new Uint8Array(38),
  witness: new Uint8Array(38),
  helper: new Uint8Array(38),
  startedAt: 0,
  durationMs: 0,
  bytes: 0,
  forwardBps: 0,
  reverseBps: 0,
  rttMs: 0,
  outcome: 'ok' as const,
}
