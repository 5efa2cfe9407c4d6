import { equalBytes, utf8 } from './bytes.ts'
import { SHA256_IV, sha256Block } from './sha256-block.ts'

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
  const memo = memoFor(seed, witnessCount, k)
  const key = lastWord(relay)
  const known = memo.get(key)
  if (known && equalBytes(known.relay, relay)) return known.chosen
  const chosen = draws(seed, relay, witnessCount, k)
  if (!known) memo.set(key, { relay: relay.slice(), chosen })
  return chosen
}

// The answers for the two latest seeds (with their witness count and k), keyed by the relay's last 32
// bits: a relay's assignment is asked for once a relay and again for every attestation about it that is
// checked, and around an epoch boundary two epochs' attestations arrive interleaved. A 32-bit key is a
// small integer to V8 (a wider one is a heap number: a million lookups took 0.85 s against 0.67 s); of
// two relays that share it, the second is simply not remembered.
type Memo = {
  seed: Uint8Array
  witnessCount: number
  k: number
  answers: Map<number, { relay: Uint8Array; chosen: number[] }>
}
const memos: Memo[] = []

function memoFor(seed: Uint8Array, witnessCount: number, k: number) {
  for (const m of memos) {
    if (m.witnessCount === witnessCount && m.k === k && equalBytes(m.seed, seed)) return m.answers
  }
  const m: Memo = { seed: seed.slice(), witnessCount, k, answers: new Map() }
  memos.unshift(m)
  memos.length = Math.min(memos.length, 2)
  return m.answers
}

/** The last four bytes as a signed 32-bit integer. */
function lastWord(bytes: Uint8Array): number {
  const n = bytes.length
  return (
    ((bytes[n - 4] ?? 0) << 24) |
    ((bytes[n - 3] ?? 0) << 16) |
    ((bytes[n - 2] ?? 0) << 8) |
    (bytes[n - 1] ?? 0)
  )
}

function draws(seed: Uint8Array, relay: Uint8Array, witnessCount: number, k: number): number[] {
  const chosen: number[] = []
  // tag ‖ seed ‖ relay ‖ block (u32 big-endian), SHA-256-padded, hashed once per block of four draws;
  // the 64-byte blocks before the counter's are the same for every draw block, so absorbed once
  const length = TAG.length + seed.length + relay.length + 4
  const blocks = Math.ceil((length + 9) / 64)
  if (message.length < 64 * blocks) {
    message = new Uint8Array(64 * blocks)
    view = new DataView(message.buffer)
  }
  message.set(TAG)
  message.set(seed, TAG.length)
  message.set(relay, TAG.length + seed.length)
  message.fill(0, length, 64 * blocks)
  message[length] = 0x80
  view.setUint32(64 * blocks - 4, 8 * length)
  const counterAt = length - 4
  const shared = Math.floor(counterAt / 64)
  prefix.set(SHA256_IV)
  for (let i = 0; i < shared; i++) sha256Block(prefix, message, 64 * i)
  for (let b = 0; chosen.length < k; b++) {
    view.setUint32(counterAt, b)
    digest.set(prefix)
    for (let i = shared; i < blocks; i++) sha256Block(digest, message, 64 * i)
    for (let i = 0; i < 4 && chosen.length < k; i++) {
      const index = draw((digest[2 * i] as number) >>> 0, (digest[2 * i + 1] as number) >>> 0, witnessCount)
      if (!chosen.includes(index)) chosen.push(index)
    }
  }
  return chosen
}

let message = new Uint8Array(128)
let view = new DataView(message.buffer)
const prefix = new Int32Array(8)
const digest = new Int32Array(8)

/** (hi · 2³² + lo) mod n, the 64-bit draw reduced to a witness index. */
function draw(hi: number, lo: number, n: number): number {
  // exact in doubles while (n − 1) · 2³² + 2³² ≤ 2⁵³
  if (n <= 2 ** 21) return ((hi % n) * 2 ** 32 + lo) % n
  return Number(((BigInt(hi) << 32n) | BigInt(lo)) % BigInt(n))
}
