import { hash } from 'node:crypto'
import { prefix48, utf8 } from './bytes.ts'

const TAG = utf8('weir/assignment/v1\0')

// the hash input is assembled in one reused buffer: this runs once per relay and per attestation checked
let scratch = new Uint8Array(256)

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
  const memo = memoFor(seed, witnessCount, k)
  const key = prefix48(relay, relay.length - 6)
  const known = memo.get(key)
  if (known && sameBytes(known.relay, relay)) return known.chosen.slice()
  const chosen = draws(seed, relay, witnessCount, k)
  if (!known) memo.set(key, { relay: relay.slice(), chosen: chosen.slice() })
  return chosen
}

// The answers for the two latest seeds (with their witness count and k), keyed by the relay's last 48
// bits: a relay's assignment is asked for once a relay and again for every attestation about it that is
// checked, and around an epoch boundary two epochs' attestations arrive interleaved.
type Memo = {
  seed: Uint8Array
  witnessCount: number
  k: number
  answers: Map<number, { relay: Uint8Array; chosen: number[] }>
}
const memos: Memo[] = []

function memoFor(seed: Uint8Array, witnessCount: number, k: number) {
  for (const m of memos) {
    if (m.witnessCount === witnessCount && m.k === k && sameBytes(m.seed, seed)) return m.answers
  }
  const m: Memo = { seed: seed.slice(), witnessCount, k, answers: new Map() }
  memos.unshift(m)
  memos.length = Math.min(memos.length, 2)
  return m.answers
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function draws(seed: Uint8Array, relay: Uint8Array, witnessCount: number, k: number): number[] {
  const chosen: number[] = []
  // tag ‖ seed ‖ relay ‖ block (u32 big-endian), hashed once per block of four draws
  const length = TAG.length + seed.length + relay.length + 4
  if (length > scratch.length) scratch = new Uint8Array(2 * length)
  scratch.set(TAG)
  scratch.set(seed, TAG.length)
  scratch.set(relay, TAG.length + seed.length)
  const input = scratch.subarray(0, length)
  for (let b = 0; chosen.length < k; b++) {
    input[length - 4] = b >>> 24
    input[length - 3] = (b >>> 16) & 255
    input[length - 2] = (b >>> 8) & 255
    input[length - 1] = b & 255
    const digest = hash('sha256', input, 'buffer')
    for (let i = 0; i < 4 && chosen.length < k; i++) {
      const index = draw(digest.readUInt32BE(i * 8), digest.readUInt32BE(i * 8 + 4), witnessCount)
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}

/** (hi · 2³² + lo) mod n, the 64-bit draw reduced to a witness index. */
function draw(hi: number, lo: number, n: number): number {
  // exact in doubles while (n − 1) · 2³² + 2³² ≤ 2⁵³
  if (n <= 2 ** 21) return ((hi % n) * 2 ** 32 + lo) % n
  return Number(((BigInt(hi) << 32n) | BigInt(lo)) % BigInt(n))
}
