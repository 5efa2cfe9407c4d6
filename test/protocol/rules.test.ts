import assert from 'node:assert/strict'
import fc from 'fast-check'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { type Attestation, encodeAttestation, MAX_ATTESTATION_BYTES } from '../../protocol/attestation.ts'
import { concatBytes, equalBytes, to0x, utf8 } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { epochStart, graceEnd } from '../../protocol/epoch.ts'
import { sha256 } from '../../protocol/hash.ts'
import { buildRegistry, eligibleRelays, isEligible, relayKey } from '../../protocol/registry.ts'
import { epochSeed } from '../../protocol/seed.ts'
import {
  type AttestationContext,
  TIMELINESS_SLACK_MS,
  timeliness,
  validateAttestation,
  validateRelayRecord,
  witnessIndex,
} from '../../protocol/validate.ts'
import { encodeRelayRecord } from '../../protocol/record.ts'
import { attest, network, party, record, witnesses } from './fixtures.ts'

const relayA = party('relay-a')
const relayB = party('relay-b')
const genesisRelay = party('genesis-relay')

describe('seed chain', () => {
  const root = (epoch: number) => ({
    epoch,
    contentRoot: sha256(utf8(`content ${epoch}`)),
    rewardsRoot: sha256(utf8(`rewards ${epoch}`)),
  })

  it('epochs 0 and 1 come from the genesis seed', () => {
    const tag = utf8(`weir/seed/v1\0${network.id}\0`)
    for (const e of [0, 1]) {
      const expected = sha256(tag, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, e), network.genesisSeed)
      assert.ok(equalBytes(epochSeed(network, e, undefined) as Uint8Array, expected))
    }
    assert.ok(!equalBytes(epochSeed(network, 0, undefined)!, epochSeed(network, 1, undefined)!))
  })

  it('from epoch 2 on, commits to the certified roots of e − 2 and waits without them', () => {
    assert.equal(epochSeed(network, 2, undefined), undefined)
    const tag = utf8(`weir/seed/v1\0${network.id}\0`)
    const r = root(3)
    const seed = epochSeed(network, 5, r) as Uint8Array
    assert.ok(
      equalBytes(seed, sha256(tag, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 5), r.contentRoot, r.rewardsRoot)),
    )
    assert.throws(() => epochSeed(network, 5, root(2)), RangeError)
    assert.ok(!equalBytes(seed, epochSeed(network, 5, { ...r, rewardsRoot: r.contentRoot })!))
    assert.ok(!equalBytes(seed, epochSeed({ ...network, id: 'other' }, 5, r)!))
    assert.ok(
      !equalBytes(epochSeed(network, 0, undefined)!, epochSeed({ ...network, id: 'other' }, 0, undefined)!),
    )
  })
})

describe('content root', () => {
  const id = (i: number) => sha256(utf8(`item ${i}`))
  it('is sha256(0x00) for the empty set and ignores order and duplicates', () => {
    assert.ok(equalBytes(contentRoot([]), sha256(Uint8Array.of(0))))
    fc.assert(
      fc.property(fc.array(fc.nat(50), { maxLength: 40 }), picks => {
        const ids = picks.map(id)
        const shuffled = [...ids, ...ids].reverse()
        assert.ok(equalBytes(contentRoot(ids), contentRoot(shuffled)))
      }),
    )
  })
  it('hashes leaves and nodes with distinct prefixes and carries an odd node up', () => {
    const [a, b, c] = [id(1), id(2), id(3)].sort(Buffer.compare)
    const leaf = (x: Uint8Array) => sha256(Uint8Array.of(0), x)
    const node = (x: Uint8Array, y: Uint8Array) => sha256(Uint8Array.of(1), x, y)
    assert.ok(equalBytes(contentRoot([a!]), leaf(a!)))
    assert.ok(equalBytes(contentRoot([b!, a!]), node(leaf(a!), leaf(b!))))
    assert.ok(equalBytes(contentRoot([c!, a!, b!]), node(node(leaf(a!), leaf(b!)), leaf(c!))))
  })
})

describe('registry and eligibility', () => {
  it('registers genesis relays at −∞ with their payout', () => {
    const registry = buildRegistry(network, [])
    const entry = registry.get(relayKey(genesisRelay.peerId))
    assert.equal(entry?.registeredIn, Number.NEGATIVE_INFINITY)
    assert.equal(entry?.payout, network.relays[0]?.payout)
    assert.ok(isEligible(entry, 0, network.eligibilityDelay))
  })

  it('highest seq wins, registeredIn is the earliest record, whatever the order', () => {
    const records = [
      record(relayA, { epoch: 4, seq: 2, payout: new Uint8Array(20).fill(2) }),
      record(relayA, { epoch: 2, seq: 1, payout: new Uint8Array(20).fill(1) }),
      record(relayA, { epoch: 6, seq: 7, payout: new Uint8Array(20).fill(7) }),
      record(relayA, { epoch: 5, seq: 3, payout: new Uint8Array(20).fill(3) }),
      record(relayB, { epoch: 3, seq: 1 }),
      record(genesisRelay, { epoch: 3, seq: 1, payout: new Uint8Array(20).fill(9) }),
    ]
    fc.assert(
      fc.property(fc.shuffledSubarray(records, { minLength: records.length }), shuffled => {
        const registry = buildRegistry(network, shuffled)
        const a = registry.get(relayKey(relayA.peerId))
        assert.equal(a?.registeredIn, 2)
        assert.equal(a?.payout, to0x(new Uint8Array(20).fill(7)))
        assert.equal(a?.record?.seq, 7)
        assert.equal(registry.get(relayKey(relayB.peerId))?.registeredIn, 3)
        const g = registry.get(relayKey(genesisRelay.peerId))
        assert.equal(g?.registeredIn, Number.NEGATIVE_INFINITY)
        assert.equal(g?.payout, to0x(new Uint8Array(20).fill(9)))
        assert.equal(registry.size, 3)
      }),
    )
  })

  it('breaks an equal-seq contradiction by signature bytes, independent of order', () => {
    const x = record(relayA, { seq: 4, payout: new Uint8Array(20).fill(1) })
    const y = record(relayA, { seq: 4, payout: new Uint8Array(20).fill(2) })
    const winner = Buffer.compare(x.signature, y.signature) < 0 ? x : y
    assert.equal(buildRegistry(network, [x, y]).get(relayKey(relayA.peerId))?.record, winner)
    assert.equal(buildRegistry(network, [y, x]).get(relayKey(relayA.peerId))?.record, winner)
  })

  it('a relay is eligible from epoch registeredIn + d on, and listed in PeerId order', () => {
    const registry = buildRegistry(network, [record(relayA, { epoch: 4 }), record(relayB, { epoch: 2 })])
    const a = registry.get(relayKey(relayA.peerId))
    assert.equal(isEligible(a, 6, 3), false)
    assert.equal(isEligible(a, 7, 3), true)
    assert.equal(isEligible(a, 4, 0), true)
    assert.equal(isEligible(undefined, 100, 0), false)
    assert.deepEqual(
      eligibleRelays(registry, 5, 3).map(r => relayKey(r.relay)),
      [genesisRelay, relayB].map(p => relayKey(p.peerId)).sort(),
    )
    assert.equal(eligibleRelays(registry, 7, 3).length, 3)
    assert.equal(eligibleRelays(registry, 0, 3).length, 1)
  })
})

describe('assignment', () => {
  const seed = sha256(utf8('assignment seed'))

  it('is deterministic and picks k distinct indices in range; k ≥ W returns all', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 38, maxLength: 38 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 40 }),
        (s, relay, w, k) => {
          const picked = assignedWitnessIndices(s, relay, w, k)
          assert.deepEqual(assignedWitnessIndices(s, relay, w, k), picked)
          assert.equal(picked.length, Math.min(k, w))
          assert.equal(new Set(picked).size, picked.length)
          for (const i of picked) assert.ok(Number.isInteger(i) && i >= 0 && i < w)
          if (k >= w)
            assert.deepEqual(
              picked,
              Array.from({ length: w }, (_, i) => i),
            )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('equals the reference draw (64-bit big-endian words of sha256 blocks, BigInt modulo)', () => {
    const reference = (s: Uint8Array, relay: Uint8Array, w: number, k: number) => {
      if (k >= w) return Array.from({ length: w }, (_, i) => i)
      const chosen: number[] = []
      for (let b = 0; chosen.length < k; b++) {
        const digest = sha256(
          utf8('weir/assignment/v1\0'),
          s,
          relay,
          Uint8Array.of(b >>> 24, b >>> 16, b >>> 8, b),
        )
        for (let i = 0; i < 4 && chosen.length < k; i++) {
          const index = Number(BigInt(to0x(digest.subarray(8 * i, 8 * i + 8))) % BigInt(w))
          if (!chosen.includes(index)) chosen.push(index)
        }
      }
      return chosen
    }
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 38, maxLength: 38 }),
        fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 2 ** 32 })),
        fc.integer({ min: 1, max: 12 }),
        (s, relay, w, k) =>
          assert.deepEqual(assignedWitnessIndices(s, relay, w, k), reference(s, relay, w, k)),
      ),
      { numRuns: 1000 },
    )
  })

  it('depends on the seed and the relay', () => {
    const relay = relayA.peerId
    const other = sha256(utf8('other seed'))
    let same = 0
    for (let i = 0; i < 200; i++) {
      const r = concatBytes(relay.subarray(0, 34), Uint8Array.of(0, 0, i >> 8, i & 255))
      const a = assignedWitnessIndices(seed, r, 100, 5).sort()
      if (a.join() === assignedWitnessIndices(other, r, 100, 5).sort().join()) same++
    }
    assert.ok(same < 5, `${same} of 200 relays kept their witnesses under a new seed`)
  })

  it('spreads relays evenly over witnesses (chi-square bound, fixed seed)', () => {
    const W = 50
    const k = 5
    const relays = 20_000
    const counts = new Array(W).fill(0)
    for (let i = 0; i < relays; i++) {
      const relay = sha256(utf8(`relay ${i}`))
      for (const w of assignedWitnessIndices(seed, relay, W, k)) counts[w]++
    }
    const expected = (relays * k) / W
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
    // 49 degrees of freedom: mean 49, P(χ² > 100) < 1e-5
    assert.ok(chi2 < 100, `chi-square ${chi2.toFixed(1)} over ${W - 1} degrees of freedom`)
  })
})

describe('attestation validation', () => {
  const epoch = 5
  const seed = sha256(utf8('seed of epoch 5'))
  const registry = buildRegistry(network, [record(relayA, { epoch: 1 }), record(relayB, { epoch: 4 })])
  const now = epochStart(network, epoch) + 30_000
  const ctx: AttestationContext = {
    network,
    nowMs: now,
    seedOf: e => (e === epoch ? seed : undefined),
    registryFor: () => registry,
  }
  const assigned = assignedWitnessIndices(
    seed,
    relayA.peerId,
    network.witnesses.length,
    network.witnessesPerRelay,
  )
  const byIndex = (i: number) => witnesses.find(w => witnessIndex(network, w.peerId) === i)!
  const assignedWitness = byIndex(assigned[0]!)
  const unassignedWitness = witnesses.find(w => !assigned.includes(witnessIndex(network, w.peerId)!))!
  const valid = attest(assignedWitness, relayA.peerId, { epoch })
  const verdict = (a: Attestation | Uint8Array, c: AttestationContext = ctx) =>
    validateAttestation(a instanceof Uint8Array ? a : encodeAttestation(a), c)

  it('maps every witness to its index in the canonical list', () => {
    network.witnesses.forEach((text, i) => {
      const w = witnesses.find(x => x.text === text)!
      assert.equal(witnessIndex(network, w.peerId), i)
    })
    assert.equal(witnessIndex(network, relayA.peerId), undefined)
    // same 48-bit bucket, other bytes; and other lengths
    const nearMiss = witnesses[0]!.peerId.slice()
    nearMiss[37]! ^= 1
    assert.equal(witnessIndex(network, nearMiss), undefined)
    assert.equal(witnessIndex(network, witnesses[0]!.peerId.subarray(0, 37)), undefined)
    assert.equal(witnessIndex(network, concatBytes(witnesses[0]!.peerId, Uint8Array.of(0))), undefined)
    assert.equal(witnessIndex(network, new Uint8Array(0)), undefined)
  })

  it('accepts a valid attestation by an assigned witness', () => {
    const v = verdict(valid)
    assert.equal(v.verdict, 'accept')
    assert.deepEqual(v.verdict === 'accept' && v.value, valid)
    // also at the last millisecond of grace
    assert.equal(verdict(valid, { ...ctx, nowMs: graceEnd(network, epoch) - 1 }).verdict, 'accept')
  })

  const rejects: [string, string, () => Uint8Array | Attestation, AttestationContext?][] = [
    [
      'bad signature',
      'bad signature',
      () => {
        const b = encodeAttestation(valid)
        b[b.length - 1]! ^= 1
        return b
      },
    ],
    ['not a witness', 'not from a witness', () => attest(party('stranger'), relayA.peerId, { epoch })],
    ['witness not assigned', 'not assigned', () => attest(unassignedWitness, relayA.peerId, { epoch })],
    [
      'stale epoch',
      'stale or future',
      () => valid,
      { ...ctx, nowMs: graceEnd(network, epoch) + TIMELINESS_SLACK_MS },
    ],
    ['future epoch', 'stale or future', () => attest(assignedWitness, relayA.peerId, { epoch: epoch + 1 })],
    ['epoch long past', 'stale or future', () => attest(assignedWitness, relayA.peerId, { epoch: 1 })],
    [
      'oversize',
      'limit 512',
      () => concatBytes(encodeAttestation(valid), new Uint8Array(MAX_ATTESTATION_BYTES)),
    ],
    ['undecodable', 'undecodable', () => encodeAttestation(valid).subarray(0, 50)],
    ['trailing bytes', 'undecodable', () => concatBytes(encodeAttestation(valid), Uint8Array.of(0))],
    [
      'another network',
      'another network',
      () => attest(assignedWitness, relayA.peerId, { epoch, net: 'othernet' }),
    ],
    ['relay not eligible yet', 'not eligible', () => attest(byIndex(0), relayB.peerId, { epoch })],
    ['relay not registered', 'not eligible', () => attest(byIndex(0), party('nobody').peerId, { epoch })],
    [
      'helper is the relay',
      'relay itself',
      () => attest(assignedWitness, relayA.peerId, { epoch, helper: relayA.peerId }),
    ],
  ]
  for (const [name, reason, make, c] of rejects) {
    it(`rejects: ${name}`, () => {
      const v = verdict(make(), c)
      assert.equal(v.verdict, 'reject', JSON.stringify(v))
      assert.ok(v.verdict === 'reject' && v.reason.includes(reason), v.verdict === 'reject' ? v.reason : '')
    })
  }

  it('ignores (does not reject) just outside the epoch’s window, but rejects a forgery there', () => {
    const late = { ...ctx, nowMs: graceEnd(network, epoch) }
    const v = verdict(valid, late)
    assert.equal(v.verdict, 'ignore')
    assert.ok(v.verdict === 'ignore' && !v.waiting, 'nothing to wait for')
    const early = attest(assignedWitness, relayA.peerId, { epoch: epoch + 1 })
    assert.equal(verdict(early, { ...ctx, nowMs: epochStart(network, epoch + 1) - 1 }).verdict, 'ignore')
    const forged = encodeAttestation(valid)
    forged[forged.length - 1]! ^= 1
    assert.equal(verdict(forged, late).verdict, 'reject')
  })

  it('ignores (does not reject) while the seed or the registry is unknown', () => {
    const waiting = verdict(valid, { ...ctx, seedOf: () => undefined })
    assert.ok(waiting.verdict === 'ignore' && waiting.waiting, JSON.stringify(waiting))
    assert.equal(verdict(valid, { ...ctx, registryFor: () => undefined }).verdict, 'ignore')
    // but a bad signature is rejected even then
    const bad = encodeAttestation({ ...valid, rttMs: 43 })
    assert.equal(verdict(bad, { ...ctx, seedOf: () => undefined }).verdict, 'reject')
  })

  it('one timeliness rule: accept in the window, ignore within the slack around it, reject beyond', () => {
    const start = epochStart(network, epoch)
    const end = graceEnd(network, epoch)
    const cases: [number, string][] = [
      [start - TIMELINESS_SLACK_MS - 1, 'reject'],
      [start - TIMELINESS_SLACK_MS, 'ignore'],
      [start - 1, 'ignore'],
      [start, 'accept'],
      [end - 1, 'accept'],
      [end, 'ignore'],
      [end + TIMELINESS_SLACK_MS - 1, 'ignore'],
      [end + TIMELINESS_SLACK_MS, 'reject'],
    ]
    for (const [at, expected] of cases)
      assert.equal(timeliness(network, epoch, at), expected, `at ${at - start}`)
    assert.equal(timeliness(network, -1, start), 'reject')
  })

  it('relay records: accepts valid, rejects forged, stale, foreign and undecodable', () => {
    const rctx = { network, nowMs: now }
    const good = record(relayA, { epoch })
    assert.equal(validateRelayRecord(encodeRelayRecord(good), rctx).verdict, 'accept')
    const forged = encodeRelayRecord({ ...good, seq: 2 })
    assert.equal(validateRelayRecord(forged, rctx).verdict, 'reject')
    assert.equal(validateRelayRecord(encodeRelayRecord(record(relayA, { epoch: 3 })), rctx).verdict, 'reject')
    const late = { network, nowMs: graceEnd(network, epoch) }
    assert.equal(validateRelayRecord(encodeRelayRecord(good), late).verdict, 'ignore')
    assert.equal(validateRelayRecord(forged, late).verdict, 'reject')
    const foreign = encodeRelayRecord(record(relayA, { epoch, net: 'othernet' }))
    assert.equal(validateRelayRecord(foreign, rctx).verdict, 'reject')
    assert.equal(validateRelayRecord(Uint8Array.of(1, 2, 3), rctx).verdict, 'reject')
  })
})
