import assert from 'node:assert/strict'
import fc from 'fast-check'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { type Attestation, OUTCOMES, type Outcome } from '../../protocol/attestation.ts'
import { to0x, utf8 } from '../../protocol/bytes.ts'
import { sha256 } from '../../protocol/hash.ts'
import { buildRewardsTree } from '../../protocol/merkle.ts'
import { type Address, type NetworkDefinition, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdFromString } from '../../protocol/peer.ts'
import type { RelayRecord } from '../../protocol/record.ts'
import { buildRegistry, relayKey } from '../../protocol/registry.ts'
import { computeTally, lowerMedian, type Tally } from '../../protocol/tally.ts'
import { exampleJson, party } from './fixtures.ts'

// Tally tests build decoded attestations directly: computeTally takes signatures as already verified.

const EPOCH = 6
const witnessParties = Array.from({ length: 9 }, (_, i) => party(`tally-witness-${i}`))
const net: NetworkDefinition = parseNetworkDefinition({
  ...exampleJson(),
  witnesses: witnessParties.map(w => w.text),
  witnessesPerRelay: 5,
  minAttestations: 3,
  eligibilityDelay: 2,
  relays: [],
})
const witnessBytes = net.witnesses.map(peerIdFromString) // canonical order: index i is witness i
const seed = sha256(utf8('tally seed'))
const relayIds = Array.from({ length: 10 }, (_, i) => party(`tally-relay-${i}`).peerId)
const payouts = Array.from(
  { length: 4 },
  (_, i) => to0x(sha256(utf8(`payout ${i}`)).subarray(0, 20)) as Address,
)
const assignedOf = (relay: Uint8Array) =>
  assignedWitnessIndices(seed, relay, net.witnesses.length, net.witnessesPerRelay)

function attestation(
  relay: Uint8Array,
  witness: Uint8Array,
  capacity: number,
  outcome: Outcome = 'ok',
  variant = 0,
): Attestation {
  return {
    net: net.id,
    epoch: EPOCH,
    relay,
    witness,
    helper: relayIds[9]!,
    startedAt: 1_000,
    durationMs: 20_000,
    bytes: 1_000_000,
    forwardBps: capacity,
    reverseBps: capacity + 1,
    rttMs: 10 + variant,
    outcome,
    signature: new Uint8Array(64),
  }
}

function relayRecord(relay: Uint8Array, epoch: number, seq: number, payout: Address): RelayRecord {
  return {
    net: net.id,
    relay,
    epoch,
    seq,
    addrs: [],
    payout: Buffer.from(payout.slice(2), 'hex'),
    maxBandwidthBps: 0,
    signature: sha256(utf8(`${relayKey(relay)} ${seq}`)).subarray(0, 32),
  }
}

/** A random epoch: relays with registration epochs and payouts, attestations by any witness, equivocations. */
const scenarioArb = fc
  .record({
    relays: fc.array(fc.record({ registeredIn: fc.nat(EPOCH), payout: fc.nat(payouts.length - 1) }), {
      minLength: 1,
      maxLength: 8,
    }),
    attestations: fc.array(
      fc.record({
        relay: fc.nat(9),
        witness: fc.nat(8),
        capacity: fc.oneof(fc.nat(10), fc.nat(2 ** 40)),
        outcome: fc.constantFrom(...OUTCOMES, 'ok', 'ok', 'ok'),
        variant: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.nat(2)),
      }),
      { maxLength: 80 },
    ),
    emission: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n })),
    previous: fc.array(fc.tuple(fc.nat(payouts.length - 1), fc.bigInt({ min: 0n, max: 10n ** 30n })), {
      maxLength: 3,
    }),
  })
  .map(s => ({
    network: { ...net, emissionPerEpoch: s.emission },
    registry: buildRegistry(
      net,
      s.relays.map((r, i) => relayRecord(relayIds[i]!, r.registeredIn, 1, payouts[r.payout]!)),
    ),
    attestations: s.attestations.map(a =>
      attestation(relayIds[a.relay]!, witnessBytes[a.witness]!, a.capacity, a.outcome as Outcome, a.variant),
    ),
    previous: new Map(s.previous.map(([p, amount]) => [payouts[p]!, amount] as const)),
  }))

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never
const tally = (s: Scenario, attestations = s.attestations): Tally =>
  computeTally({
    network: s.network,
    epoch: EPOCH,
    seed,
    registry: s.registry,
    attestations,
    previous: s.previous,
  })

describe('tally', () => {
  it('lowerMedian takes the lower of the two middle values', () => {
    assert.equal(lowerMedian([]), 0)
    assert.equal(lowerMedian([4]), 4)
    assert.equal(lowerMedian([1, 9]), 1)
    assert.equal(lowerMedian([1, 2, 9]), 2)
    assert.equal(lowerMedian([1, 2, 8, 9]), 2)
  })

  it('is the same for any order of its input, with or without duplicates', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.func(fc.integer()),
        fc.array(fc.nat(), { maxLength: 20 }),
        (s, order, dups) => {
          const shuffled = [...s.attestations].sort((a, b) => order(a) - order(b) || 0)
          const withDuplicates = [
            ...shuffled,
            ...dups.flatMap(d => s.attestations[d % s.attestations.length] ?? []),
          ]
          // structurally equal copies count as duplicates too, not just the same objects
          const copies = withDuplicates.map(a => ({ ...a, relay: a.relay.slice() }))
          assert.deepEqual(tally(s, copies.reverse()), tally(s))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('emits exactly the emission when any relay scores, 0 otherwise; each reward is ⌊E·s/S⌋ or +1', () => {
    fc.assert(
      fc.property(scenarioArb, s => {
        const t = tally(s)
        const E = s.network.emissionPerEpoch
        const scored = t.relays.filter(r => r.score > 0)
        const S = scored.reduce((sum, r) => sum + BigInt(r.score), 0n)
        const sum = t.relays.reduce((acc, r) => acc + r.reward, 0n)
        if (scored.length === 0) {
          assert.equal(sum, 0n)
          assert.equal(t.emitted, 0n)
          return
        }
        assert.equal(sum, E)
        assert.equal(t.emitted, E)
        const keyOf = (r: (typeof t.relays)[number]) => relayKey(r.relay)
        const bonus = scored.filter(r => r.reward === (E * BigInt(r.score)) / S + 1n)
        const plain = scored.filter(r => r.reward === (E * BigInt(r.score)) / S)
        assert.equal(bonus.length + plain.length, scored.length)
        // the +1 units go to the largest remainders E·s mod S, ties to the lower PeerId
        for (const b of bonus) {
          for (const p of plain) {
            const rb = (E * BigInt(b.score)) % S
            const rp = (E * BigInt(p.score)) % S
            assert.ok(rb > rp || (rb === rp && keyOf(b) < keyOf(p)))
          }
        }
        for (const r of t.relays) if (r.score === 0) assert.equal(r.reward, 0n)
      }),
      { numRuns: 300 },
    )
  })

  it('an attestation from an unassigned or unknown witness, another epoch or network changes nothing', () => {
    const stranger = party('tally-stranger').peerId
    fc.assert(
      fc.property(
        scenarioArb,
        fc.array(fc.tuple(fc.nat(9), fc.nat(8), fc.nat(2 ** 30)), { maxLength: 20 }),
        (s, extra) => {
          const noise = extra.flatMap(([r, w, capacity]) => {
            const relay = relayIds[r]!
            const unassigned = witnessBytes.filter((_, i) => !assignedOf(relay).includes(i))[w % 4]!
            return [
              attestation(relay, unassigned, capacity),
              attestation(relay, stranger, capacity),
              { ...attestation(relay, witnessBytes[w]!, capacity), epoch: EPOCH - 1 },
              { ...attestation(relay, witnessBytes[w]!, capacity), net: 'othernet' },
            ]
          })
          assert.deepEqual(tally(s, [...s.attestations, ...noise]), tally(s))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('fewer than k/2 arbitrary values cannot move a score outside the honest range', () => {
    const relay = relayIds[0]!
    const registry = buildRegistry(net, [relayRecord(relay, 0, 1, payouts[0]!)])
    const k = net.witnessesPerRelay
    const assigned = assignedOf(relay)
    fc.assert(
      fc.property(
        fc.array(fc.nat(2 ** 40), { minLength: k, maxLength: k }),
        fc.integer({ min: 0, max: Math.ceil(k / 2) - 1 }),
        fc.array(fc.oneof(fc.constant(0), fc.nat(2 ** 45)), { minLength: k, maxLength: k }),
        fc.array(fc.constantFrom(...OUTCOMES), { minLength: k, maxLength: k }),
        (honest, liars, lies, outcomes) => {
          const values = honest.map((v, i) => (i < liars ? (lies[i] as number) : v))
          const attestations = assigned.map((w, i) =>
            attestation(relay, witnessBytes[w]!, values[i]!, i < liars ? (outcomes[i] as Outcome) : 'ok'),
          )
          const t = computeTally({
            network: net,
            epoch: EPOCH,
            seed,
            registry,
            attestations,
            previous: new Map(),
          })
          const honestValues = honest.slice(liars)
          const score = t.relays[0]?.score as number
          assert.ok(score >= Math.min(...honestValues) && score <= Math.max(...honestValues), `${score}`)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a relay registered less than eligibilityDelay epochs ago is never counted and earns nothing', () => {
    fc.assert(
      fc.property(scenarioArb, s => {
        const t = tally(s)
        for (const r of t.relays) {
          const entry = s.registry.get(relayKey(r.relay))
          assert.ok(entry && entry.registeredIn <= EPOCH - net.eligibilityDelay)
        }
        // dropping the attestations of ineligible relays changes nothing
        const eligibleOnly = s.attestations.filter(a => {
          const entry = s.registry.get(relayKey(a.relay))
          return entry !== undefined && entry.registeredIn <= EPOCH - net.eligibilityDelay
        })
        assert.deepEqual(tally(s, eligibleOnly), t)
      }),
      { numRuns: 200 },
    )
  })

  it('equivocating (relay, witness) pairs count for nothing', () => {
    fc.assert(
      fc.property(scenarioArb, s => {
        const key = (a: Attestation) => `${relayKey(a.relay)}/${relayKey(a.witness)}`
        const claims = new Map<string, Set<string>>()
        for (const a of s.attestations) {
          const set = claims.get(key(a)) ?? new Set()
          set.add(`${a.forwardBps}/${a.reverseBps}/${a.rttMs}/${a.outcome}`)
          claims.set(key(a), set)
        }
        const equivocating = new Set([...claims].filter(([, set]) => set.size > 1).map(([k]) => k))
        const t = tally(s)
        const without = tally(
          s,
          s.attestations.filter(a => !equivocating.has(key(a))),
        )
        assert.deepEqual({ ...t, equivocations: 0 }, without)
        const counted = [...equivocating].filter(k => {
          const a = s.attestations.find(x => key(x) === k) as Attestation
          const entry = s.registry.get(relayKey(a.relay))
          const index = witnessBytes.findIndex(w => relayKey(w) === relayKey(a.witness))
          return (
            entry && entry.registeredIn <= EPOCH - net.eligibilityDelay && assignedOf(a.relay).includes(index)
          )
        })
        assert.equal(t.equivocations, counted.length)
      }),
      { numRuns: 200 },
    )
  })

  it('cumulative leaves add the previous amounts, one per payout, ordered, with the matching root', () => {
    fc.assert(
      fc.property(scenarioArb, s => {
        const t = tally(s)
        const expected = new Map(s.previous)
        for (const r of t.relays) expected.set(r.payout, (expected.get(r.payout) ?? 0n) + r.reward)
        const nonZero = [...expected].filter(([, amount]) => amount > 0n).sort(([a], [b]) => (a < b ? -1 : 1))
        assert.deepEqual(
          t.leaves.map(l => [l.account, l.amount]),
          nonZero,
        )
        assert.equal(
          t.cumulativeTotal,
          nonZero.reduce((sum, [, amount]) => sum + amount, 0n),
        )
        assert.deepEqual(t.rewardsRoot, buildRewardsTree(t.leaves).root)
      }),
      { numRuns: 200 },
    )
  })

  it('scores the lower median of assigned witnesses with at least m attestations, failed probes as 0', () => {
    const relay = relayIds[1]!
    const registry = buildRegistry(net, [relayRecord(relay, 0, 1, payouts[0]!)])
    const [w0, w1, w2, w3] = assignedOf(relay).map(i => witnessBytes[i]!)
    const run = (attestations: Attestation[]) =>
      computeTally({ network: net, epoch: EPOCH, seed, registry, attestations, previous: new Map() })
        .relays[0]
    // m = 3: two attestations are not enough
    assert.equal(run([attestation(relay, w0!, 100), attestation(relay, w1!, 200)])?.score, 0)
    const three = run([
      attestation(relay, w0!, 100),
      attestation(relay, w1!, 300),
      attestation(relay, w2!, 200),
    ])
    assert.equal(three?.score, 200)
    assert.deepEqual(three?.capacities, [100, 200, 300])
    const failed = run([
      attestation(relay, w0!, 100),
      attestation(relay, w1!, 300, 'timeout'),
      attestation(relay, w2!, 200, 'corrupt'),
      attestation(relay, w3!, 400),
    ])
    assert.deepEqual(failed?.capacities, [0, 0, 100, 400])
    assert.equal(failed?.score, 0)
    // capacity is the slower direction
    const slow = { ...attestation(relay, w0!, 100), forwardBps: 500, reverseBps: 50 }
    assert.deepEqual(run([slow])?.capacities, [50])
  })

  it('tells apart relays whose keys share their first 48 bits', () => {
    const twins = [0, 1, 2].map(i => {
      const id = relayIds[4]!.slice()
      id[37] = i
      return id
    })
    const registry = buildRegistry(
      net,
      twins.map(r => relayRecord(r, 0, 1, payouts[0]!)),
    )
    const attestations = twins.flatMap((r, i) =>
      assignedOf(r).map(w => attestation(r, witnessBytes[w]!, 1000 * (i + 1))),
    )
    for (const order of [attestations, [...attestations].reverse()]) {
      const t = computeTally({
        network: net,
        epoch: EPOCH,
        seed,
        registry,
        attestations: order,
        previous: new Map(),
      })
      assert.deepEqual(
        t.relays.map(r => [relayKey(r.relay), r.score]),
        twins.map((r, i) => [relayKey(r), 1000 * (i + 1)]),
      )
    }
  })

  it('pays the payout of the highest-seq record', () => {
    const relay = relayIds[2]!
    const records = [
      relayRecord(relay, 0, 1, payouts[0]!),
      relayRecord(relay, 3, 5, payouts[2]!),
      relayRecord(relay, 2, 3, payouts[1]!),
    ]
    const assigned = assignedOf(relay).map(i => witnessBytes[i]!)
    const attestations = assigned.map(w => attestation(relay, w, 1000))
    for (const order of [records, [...records].reverse()]) {
      const t = computeTally({
        network: net,
        epoch: EPOCH,
        seed,
        registry: buildRegistry(net, order),
        attestations,
        previous: new Map(),
      })
      assert.equal(t.relays[0]?.payout, payouts[2])
      assert.deepEqual(t.leaves, [{ account: payouts[2], amount: net.emissionPerEpoch }])
    }
  })

  it('treats previous amounts keyed by checksummed (mixed-case) addresses as the same account', () => {
    const relay = relayIds[3]!
    const registry = buildRegistry(net, [relayRecord(relay, 0, 1, payouts[0]!)])
    const attestations = assignedOf(relay).map(i => attestation(relay, witnessBytes[i]!, 1000))
    const mixed = `0x${payouts[0]!.slice(2).toUpperCase()}` as Address
    const t = computeTally({
      network: net,
      epoch: EPOCH,
      seed,
      registry,
      attestations,
      previous: new Map([[mixed, 7n]]),
    })
    assert.deepEqual(t.leaves, [{ account: payouts[0], amount: net.emissionPerEpoch + 7n }])
  })

  it('a relay that earns nothing does not change the leaves or root, whatever form its payout takes', () => {
    const [paid, unpaid] = [relayIds[3]!, relayIds[4]!]
    const attestations = [
      ...assignedOf(paid).map(i => attestation(paid, witnessBytes[i]!, 1000)),
      attestation(unpaid, witnessBytes[assignedOf(unpaid)[0]!]!, 1000), // fewer than m: scores 0
    ]
    const tallyWith = (unpaidPayout: Address) =>
      computeTally({
        network: net,
        epoch: EPOCH,
        seed,
        registry: new Map([
          [relayKey(paid), { relay: paid, registeredIn: 0, payout: payouts[0]! }],
          [relayKey(unpaid), { relay: unpaid, registeredIn: 0, payout: unpaidPayout }],
        ]),
        attestations,
        previous: new Map([[payouts[2]!, 3n]]),
      })
    const canonical = tallyWith(payouts[1]!)
    const mixed = tallyWith(`0x${payouts[1]!.slice(2).toUpperCase()}` as Address)
    assert.equal(canonical.relays.length, 2)
    assert.deepEqual(mixed.leaves, canonical.leaves)
    assert.deepEqual(mixed.rewardsRoot, canonical.rewardsRoot)
    assert.deepEqual(canonical.rewardsRoot, buildRewardsTree(canonical.leaves).root)
  })

  it('with no attestations emits nothing and keeps the previous leaves', () => {
    const previous = new Map([[payouts[1]!, 5n]])
    const t = computeTally({
      network: net,
      epoch: EPOCH,
      seed,
      registry: new Map(),
      attestations: [],
      previous,
    })
    assert.equal(t.emitted, 0n)
    assert.deepEqual(t.leaves, [{ account: payouts[1], amount: 5n }])
    assert.equal(t.cumulativeTotal, 5n)
    const empty = computeTally({
      network: net,
      epoch: EPOCH,
      seed,
      registry: new Map(),
      attestations: [],
      previous: new Map(),
    })
    assert.deepEqual(empty.rewardsRoot, new Uint8Array(32))
  })
})
