import { utf8 } from './bytes.ts'
import { rememberedDraws } from './fast/assignment.ts'
import { sha256 } from './hash.ts'

const TAG = utf8('weir/assignment/v1\0')

/**
 * The definition (docs/PROTOCOL.md §9): the indices (into the canonically ordered witness list) of the k
 * witnesses assigned to `relay` under `seed`, a sample without replacement drawn from the blocks
 * sha256(tag ‖ seed ‖ relay ‖ u32be(b)) for b = 0, 1, …: four big-endian 64-bit draws a block, each
 * taken modulo the number of witnesses, a draw already chosen skipped. About one hash per relay, where
 * ranking every witness for every relay (rendezvous hashing) would cost one per (relay, witness) pair;
 * both are recomputable by anyone and equally unpredictable before the seed is known.
 */
export function drawWitnesses(
  seed: Uint8Array,
  relay: Uint8Array,
  witnessCount: number,
  k: number,
): number[] {
  if (k >= witnessCount) return Array.from({ length: witnessCount }, (_, i) => i)
  const chosen: number[] = []
  const n = BigInt(witnessCount)
  const block = new Uint8Array(4)
  for (let b = 0; chosen.length < k; b++) {
    new DataView(block.buffer).setUint32(0, b)
    const digest = new DataView(sha256(TAG, seed, relay, block).buffer)
    for (let i = 0; i < 4 && chosen.length < k; i++) {
      const index = Number(digest.getBigUint64(8 * i) % n)
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}

/** drawWitnesses(seed, relay, witnessCount, k), computed by ./fast/assignment.ts. */
export function assignedWitnessIndices(
  seed: Uint8Array,
  relay: Uint8Array,
  witnessCount: number,
  k: number,
): number[] {
  return assignment(seed, relay, witnessCount, k).slice()
}

/**
 * assignedWitnessIndices without the copy, for callers that only read it: a tally of a million relays
 * would otherwise leave a million arrays for the garbage collector.
 */
export function assignment(
  seed: Uint8Array,
  relay: Uint8Array,
  witnessCount: number,
  k: number,
): readonly number[] {
  if (k >= witnessCount) return Array.from({ length: witnessCount }, (_, i) => i)
  return rememberedDraws(TAG, seed, relay, witnessCount, k)
}
