import { utf8 } from './bytes.ts'
import { sha256 } from './hash.ts'

const TAG = utf8('weir/assignment/v1\0')

/**
 * The indices (into the canonically ordered witness list) of the k witnesses assigned to `relay` under
 * `seed`: a sample without replacement drawn from the hash stream H(tag, seed, relay, block), 64 bits a
 * draw, taken modulo the number of witnesses. Costs about one hash per relay, where ranking every
 * witness for every relay (rendezvous hashing) would cost one hash per (relay, witness) pair; both are
 * recomputable by anyone and equally unpredictable before the seed is known.
 */
export function assignedWitnessIndices(
  seed: Uint8Array,
  relay: Uint8Array,
  witnessCount: number,
  k: number,
): number[] {
  if (k >= witnessCount) return Array.from({ length: witnessCount }, (_, i) => i)
  const chosen: number[] = []
  const block = new Uint8Array(4)
  const blockView = new DataView(block.buffer)
  // A draw is a 64-bit big-endian word mod n. With n < 2^26, (hi mod n)·(2^32 mod n) + lo stays below
  // 2^53, so plain numbers give exactly the BigInt result at a fraction of the cost.
  const small = witnessCount < 2 ** 26
  const n = BigInt(witnessCount)
  const twoTo32 = 2 ** 32 % witnessCount
  for (let b = 0; chosen.length < k; b++) {
    blockView.setUint32(0, b)
    const digest = sha256(TAG, seed, relay, block)
    const view = new DataView(digest.buffer, digest.byteOffset, 32)
    for (let i = 0; i < 4 && chosen.length < k; i++) {
      const index = small
        ? ((view.getUint32(i * 8) % witnessCount) * twoTo32 + view.getUint32(i * 8 + 4)) % witnessCount
        : Number(view.getBigUint64(i * 8) % n)
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}

/** Whether the witness at `witnessIndex` is one of the relay's assigned witnesses. */
export function isAssigned(
  seed: Uint8Array,
  relay: Uint8Array,
  witnessIndex: number,
  witnessCount: number,
  k: number,
) {
  return assignedWitnessIndices(seed, relay, witnessCount, k).includes(witnessIndex)
}
