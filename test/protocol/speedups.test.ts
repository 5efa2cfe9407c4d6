// The simulator's speed-ups to protocol/ must not change any result: each is checked against the
// straightforward computation it replaced.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { type AttestationBody, encodeAttestation, signAttestation } from '../../protocol/attestation.ts'
import { utf8 } from '../../protocol/bytes.ts'
import { ed25519FromSeed } from '../../protocol/ed25519.ts'
import { sha256 } from '../../protocol/hash.ts'
import { parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { validateAttestation } from '../../protocol/validate.ts'

function referenceAssignment(seed: Uint8Array, relay: Uint8Array, witnessCount: number, k: number): number[] {
  if (k >= witnessCount) return Array.from({ length: witnessCount }, (_, i) => i)
  const chosen: number[] = []
  const n = BigInt(witnessCount)
  const block = new Uint8Array(4)
  for (let b = 0; chosen.length < k; b++) {
    new DataView(block.buffer).setUint32(0, b)
    const h = createHash('sha256')
    for (const part of [utf8('weir/assignment/v1\0'), seed, relay, block]) h.update(part)
    const digest = new Uint8Array(h.digest())
    const view = new DataView(digest.buffer)
    for (let i = 0; i < 4 && chosen.length < k; i++) {
      const index = Number(view.getBigUint64(i * 8) % n)
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}

describe('protocol speed-ups keep results', () => {
  it('assignment without BigInt draws the same witnesses', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 38, maxLength: 38 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 12 }),
        (seed, relay, witnesses, k) => {
          assert.deepEqual(
            assignedWitnessIndices(seed, relay, witnesses, k),
            referenceAssignment(seed, relay, witnesses, k),
          )
        },
      ),
      { numRuns: 2000 },
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
