// drawWitnesses of ../assignment.ts, computed faster for the callers that ask by the million (gossip
// validation, the tally, the simulator): a relay's first SHA-256 block, which every draw block shares, is
// absorbed once (./sha256-block.ts); 64-bit draws are reduced without BigInt; and the answers for the
// latest two seeds are remembered, since a relay's assignment is asked for again for every attestation
// about it. Contract: test/protocol/speedups.test.ts holds it to drawWitnesses; docs/performance.md has
// the measurements that keep it here.
import { equalBytes } from '../bytes.ts'
import { SHA256_IV, sha256Block } from './sha256-block.ts'

/**
 * The first k distinct draws (k < witnessCount) from the blocks sha256(tag ‖ seed ‖ relay ‖ u32be(b)),
 * four big-endian 64-bit words each, reduced modulo witnessCount. Callers must not change the array.
 */
export function rememberedDraws(
  tag: Uint8Array,
  seed: Uint8Array,
  relay: Uint8Array,
  witnessCount: number,
  k: number,
): readonly number[] {
  const memo = memoFor(tag, seed, witnessCount, k)
  const key = lastWord(relay)
  const known = memo.get(key)
  if (known && equalBytes(known.relay, relay)) return known.chosen
  const chosen = draws(tag, seed, relay, witnessCount, k)
  if (!known) memo.set(key, { relay: relay.slice(), chosen })
  return chosen
}

// Keyed by the relay's last 32 bits, which V8 keeps as a small integer (a wider key would be a heap
// number); of two relays that share it, the second is simply not remembered. Two memos: around an
// epoch boundary two epochs' attestations arrive interleaved.
type Memo = {
  tag: Uint8Array
  seed: Uint8Array
  witnessCount: number
  k: number
  answers: Map<number, { relay: Uint8Array; chosen: number[] }>
}
const memos: Memo[] = []

function memoFor(tag: Uint8Array, seed: Uint8Array, witnessCount: number, k: number) {
  for (const m of memos) {
    if (m.witnessCount === witnessCount && m.k === k && equalBytes(m.seed, seed) && equalBytes(m.tag, tag))
      return m.answers
  }
  const m: Memo = { tag: tag.slice(), seed: seed.slice(), witnessCount, k, answers: new Map() }
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

function draws(tag: Uint8Array, seed: Uint8Array, relay: Uint8Array, witnessCount: number, k: number) {
  const chosen: number[] = []
  // tag ‖ seed ‖ relay ‖ block (u32 big-endian), SHA-256-padded, hashed once per block of four draws;
  // the 64-byte blocks before the counter's are the same for every draw block, so absorbed once
  const length = tag.length + seed.length + relay.length + 4
  const blocks = Math.ceil((length + 9) / 64)
  if (message.length < 64 * blocks) {
    message = new Uint8Array(64 * blocks)
    view = new DataView(message.buffer)
  }
  message.set(tag)
  message.set(seed, tag.length)
  message.set(relay, tag.length + seed.length)
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
