// The fast paths of protocol/fast/ must not change any result: each is checked against the definition
// it computes faster (in protocol/, or the library that defines it).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import fc from 'fast-check'
import { assignedWitnessIndices, drawWitnesses } from '../../protocol/assignment.ts'
import { type AttestationBody, encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { compareBytes, equalBytes, to0x } from '../../protocol/bytes.ts'
import { contentRoot } from '../../protocol/content.ts'
import { decodeSubset, encodeSubset } from '../../protocol/fast/cbor.ts'
import { decodeFields, encodeFields, type Field } from '../../protocol/codec.ts'
import { DecodeError } from '../../protocol/errors.ts'
import { ed25519FromSeed } from '../../protocol/ed25519.ts'
import { rewardsRoot } from '../../protocol/fast/merkle.ts'
import { sha256 } from '../../protocol/hash.ts'
import { buildRewardsTree, leafHash, type RewardLeaf, rewardsTreeNodes } from '../../protocol/merkle.ts'
import { type Address, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { orderByBytes } from '../../protocol/fast/order.ts'
import { validateAttestation } from '../../protocol/validate.ts'

describe('protocol speed-ups keep results', () => {
  it('the fast assignment draws the witnesses of the definition', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 38, maxLength: 38 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 12 }),
        (seed, relay, witnesses, k) => {
          assert.deepEqual(
            assignedWitnessIndices(seed, relay, witnesses, k),
            drawWitnesses(seed, relay, witnesses, k),
          )
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('remembered assignments are per seed and relay, and callers cannot change them', () => {
    const seed = new Uint8Array(32).fill(7)
    // relays that share their last 48 bits (the memo's key) but differ before
    const relays = [0, 1, 2].map(i => Uint8Array.from({ length: 38 }, (_, j) => (j < 10 ? i : j)))
    for (let round = 0; round < 3; round++) {
      for (const relay of relays) {
        const got = assignedWitnessIndices(seed, relay, 1000, 3)
        assert.deepEqual(got, drawWitnesses(seed, relay, 1000, 3))
        got.fill(0)
      }
      seed[0] = round
    }
  })

  it('the fast rewards tree has the nodes of the definition', () => {
    // accounts in canonical form and not, amounts below and above 2⁶⁴, leaves sharing an account
    const account = fc.oneof(
      fc.uint8Array({ minLength: 20, maxLength: 20 }).map(a => to0x(a) as Address),
      fc
        .uint8Array({ minLength: 20, maxLength: 20 })
        .map(a => to0x(a).toUpperCase().replace('0X', '0x') as Address),
      fc.constantFrom(`0x${'00'.repeat(20)}` as Address, `0x${'ff'.repeat(20)}` as Address),
    )
    const leaf: fc.Arbitrary<RewardLeaf> = fc.record({
      account,
      amount: fc.oneof(
        fc.bigInt({ min: 0n, max: 1n << 64n }),
        fc.bigInt({ min: 0n, max: (1n << 256n) - 1n }),
      ),
    })
    const unique = fc.uniqueArray(leaf, { maxLength: 40, selector: l => l.account.toLowerCase() })
    fc.assert(
      fc.property(unique, fc.nat(), (leaves, dup) => {
        // a leaf listed twice changes nothing but must not break the root
        const withDuplicate = leaves.length ? [...leaves, leaves[dup % leaves.length] as RewardLeaf] : leaves
        for (const set of [leaves, withDuplicate]) {
          const root = rewardsTreeNodes(set)[0] ?? new Uint8Array(32)
          assert.deepEqual(rewardsRoot(set), root)
          assert.deepEqual(buildRewardsTree(set).root, root)
        }
        const nodes = rewardsTreeNodes(leaves)
        const tree = buildRewardsTree(leaves)
        for (const l of leaves) {
          let i = nodes.findIndex((h, j) => j >= leaves.length - 1 && equalBytes(h, leafHash(l)))
          const siblings: Uint8Array[] = []
          for (; i > 0; i = (i - 1) >> 1) siblings.push(nodes[i % 2 === 0 ? i - 1 : i + 1] as Uint8Array)
          assert.deepEqual(tree.proof(l.account), siblings)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('byte comparisons agree with Buffer.compare', () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 100 }))
    fc.assert(
      fc.property(bytes, bytes, fc.boolean(), (a, b, same) => {
        const other = same ? a.slice() : b
        assert.equal(compareBytes(a, other), Buffer.compare(a, other))
        assert.equal(equalBytes(a, other), Buffer.compare(a, other) === 0)
      }),
      { numRuns: 3000 },
    )
  })

  it('orderByBytes orders as a stable sort by compareBytes, whatever prefix the items share', () => {
    // items with a common prefix of 0–12 bytes, some of them prefixes of others, duplicates allowed
    const itemsArb = fc
      .tuple(
        fc.uint8Array({ maxLength: 12 }),
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 3 }), fc.uint8Array({ maxLength: 40 })), {
          maxLength: 60,
        }),
      )
      .map(([prefix, tails]) => tails.map(t => Uint8Array.from([...prefix, ...t])))
    fc.assert(
      fc.property(itemsArb, items => {
        const order = orderByBytes(
          items.length,
          (i, j) => items[i]![j] ?? -1,
          (i, j) => compareBytes(items[i]!, items[j]!),
        )
        const expected = items.map((_, i) => i).sort((i, j) => compareBytes(items[i]!, items[j]!) || i - j)
        assert.deepEqual(order, expected)
      }),
      { numRuns: 2000 },
    )
  })

  it('the content root equals the straightforward tree over sorted, deduplicated ids', () => {
    const h = (...parts: Uint8Array[]) => {
      const hash = createHash('sha256')
      for (const p of parts) hash.update(p)
      return new Uint8Array(hash.digest())
    }
    const reference = (ids: Uint8Array[]) => {
      const sorted = [...ids].sort(Buffer.compare)
      let level = sorted.filter((id, i) => i === 0 || Buffer.compare(id, sorted[i - 1] as Uint8Array) !== 0)
      if (level.length === 0) return h(Uint8Array.of(0))
      level = level.map(id => h(Uint8Array.of(0), id))
      while (level.length > 1) {
        const next: Uint8Array[] = []
        for (let i = 0; i < level.length; i += 2) {
          const right = level[i + 1]
          next.push(right ? h(Uint8Array.of(1), level[i] as Uint8Array, right) : (level[i] as Uint8Array))
        }
        level = next
      }
      return level[0] as Uint8Array
    }
    const id = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 140 }))
    fc.assert(
      fc.property(fc.array(id, { maxLength: 40 }), fc.nat(), (ids, dup) => {
        const withDuplicate = ids.length ? [...ids, (ids[dup % ids.length] as Uint8Array).slice()] : ids
        const root = contentRoot(withDuplicate)
        assert.deepEqual(root, reference(withDuplicate))
        assert.equal(Object.getPrototypeOf(root), Uint8Array.prototype)
      }),
      { numRuns: 500 },
    )
  })

  it('one-shot sha256 equals incremental hashing over the same parts', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 5 }), parts => {
        const h = createHash('sha256')
        for (const p of parts) h.update(p)
        assert.deepEqual(sha256(...parts), new Uint8Array(h.digest()))
      }),
    )
  })

  // values inside and outside the direct codec's subset: numbers of every kind, any text, nesting
  const leaf: fc.Arbitrary<Field> = fc.oneof(
    fc.nat({ max: 30 }),
    fc.nat({ max: 70_000 }),
    fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.double(),
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 5 }),
    fc.uint8Array({ maxLength: 300 }),
  )
  const field = fc.letrec<{ field: Field }>(tie => ({
    field: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('field'), { maxLength: 30 })),
  })).field
  const strict = { strict: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false }
  const cborgDecodes = (bytes: Uint8Array): Field | undefined => {
    try {
      return cborDecode(bytes, { ...strict, allowNaN: false, allowBigInt: false }) as Field
    } catch {
      return undefined
    }
  }

  it('the direct CBOR encoder writes exactly what cborg writes, or leaves the value to cborg', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 16 }), fields => {
        const direct = encodeSubset(fields)
        const reference = new Uint8Array(cborEncode(fields))
        if (direct) assert.deepEqual(direct, reference)
        assert.deepEqual(encodeFields(fields), reference)
      }),
      { numRuns: 3000 },
    )
  })

  it('the direct CBOR decoder accepts only canonical input, with the value cborg decodes', () => {
    const mutated = fc
      .tuple(fc.array(field, { maxLength: 16 }), fc.nat(), fc.nat(255), fc.boolean())
      .map(([fields, at, value, cut]) => {
        const bytes = new Uint8Array(cborEncode(fields))
        if (bytes.length === 0) return bytes
        if (cut) return bytes.subarray(0, at % bytes.length)
        bytes[at % bytes.length] = value
        return bytes
      })
    const subset = fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.string(), fc.uint8Array())
    const whole = fc
      .array(fc.oneof(subset, fc.array(subset)), { maxLength: 16 })
      .map(f => new Uint8Array(cborEncode(f)))
    const input = fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated, whole)
    let direct = 0
    fc.assert(
      fc.property(input, bytes => {
        const value = decodeSubset(bytes)
        if (value === undefined) return
        direct++
        assert.deepEqual(value, cborgDecodes(bytes))
        assert.deepEqual(new Uint8Array(cborEncode(value)), bytes)
      }),
      { numRuns: 5000 },
    )
    assert.ok(direct > 500, `only ${direct} inputs took the direct path`)
  })

  it('decodeFields gives the same value or error with and without the direct path', () => {
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), fc.boolean(), (rest, version) => {
        const bytes = new Uint8Array(cborEncode([version ? 1 : 2, ...rest]))
        let value: unknown
        let error: DecodeError | undefined
        try {
          value = decodeFields(bytes, 10_000, rest.length + 1, 'test')
        } catch (err) {
          assert.ok(err instanceof DecodeError)
          error = err
        }
        const reference = cborgDecodes(bytes)
        const canonical = reference !== undefined && cborEncode(reference).length === bytes.length
        if (error) assert.ok(!canonical || error.code === 'version', error.message)
        else assert.deepEqual(value, reference)
      }),
      { numRuns: 2000 },
    )
  })

  const key = (i: number) => ed25519FromSeed(new Uint8Array(32).fill(i + 1))
  const peer = (i: number) => peerIdOfPublicKey(key(i).publicKey)
  const net = parseNetworkDefinition({
    version: 1,
    id: 'speedups',
    genesis: 0,
    epochSeconds: 60,
    graceSeconds: 10,
    probe: { windowSeconds: 2, warmupSeconds: 0, timeoutSeconds: 8 },
    witnessesPerRelay: 1,
    minAttestations: 1,
    witnesses: [peerIdToString(peer(0))],
    committee: [{ peerId: peerIdToString(peer(1)), signer: `0x${'11'.repeat(20)}` }],
    genesisSeed: '00'.repeat(32),
    eligibilityDelay: 0,
    relays: [2, 3].map(i => ({ peerId: peerIdToString(peer(i)), payout: `0x${String(i).repeat(40)}` })),
    emissionPerEpoch: '1000',
    chain: { chainId: 1 },
  })

  it('a registry built twice from the cached genesis list is the same', () => {
    const a = buildRegistry(net, [])
    const b = buildRegistry(net, [])
    assert.deepEqual([...a.entries()], [...b.entries()])
    assert.notEqual(a.get([...a.keys()][0] as string), b.get([...b.keys()][0] as string))
  })

  it('validation checks signatures unless a verify hook replaces the check', () => {
    const body: AttestationBody = {
      net: net.id,
      epoch: 0,
      relay: peer(2),
      witness: peer(0),
      helper: peer(3),
      startedAt: 1000,
      durationMs: 4000,
      bytes: 10,
      forwardBps: 5,
      reverseBps: 5,
      rttMs: 1,
      outcome: 'ok',
    }
    const ctx = {
      network: net,
      nowMs: 2000,
      seedOf: () => new Uint8Array(32),
      registryFor: () => buildRegistry(net, []),
    }
    const signed = encodeAttestation(signAttestation(body, key(0).seed))
    const unsigned = encodeAttestation({ ...body, signature: new Uint8Array(64) })
    assert.equal(validateAttestation(signed, ctx).verdict, 'accept')
    assert.equal(validateAttestation(unsigned, ctx).verdict, 'reject')
    assert.equal(validateAttestation(unsigned, { ...ctx, verify: () => true }).verdict, 'accept')
  })
})
