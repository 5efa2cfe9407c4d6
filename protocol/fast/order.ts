// A stable sort of indices by their items' bytes, for the tally's million relays, accounts and leaf
// hashes, where a comparator sort would call back into JavaScript for every comparison. Each item's
// 64-bit word is its first bytes (after the prefix all items share) with its index in the low bits, so a
// native typed-array sort orders by those bytes and then by index; only runs whose kept bytes tie are
// re-sorted by full comparison. Contract: test/protocol/speedups.test.ts holds it to a stable sort by
// compareBytes; docs/performance.md has the measurements that keep it here.

/**
 * The indices 0..n-1 (n < 2³¹) ordered by their items' bytes (as compareBytes orders them), equal items
 * by index. `byteAt(i, j)` is byte j of item i, or -1 past its end; `compare(i, j)` compares the items.
 */
export function orderByBytes(
  n: number,
  byteAt: (i: number, j: number) => number,
  compare: (i: number, j: number) => number,
): number[] {
  if (n < 2) return n === 1 ? [0] : []
  const shared = sharedPrefix(n, byteAt)
  const indexBits = 32 - Math.clz32(n - 1)
  if (scratch.length < n) scratch = new BigUint64Array(Math.max(n, 2 * scratch.length))
  const words = scratch.subarray(0, n)
  const halves = new Uint32Array(words.buffer, 0, 2 * n) // little-endian halves: [2i] low, [2i + 1] high
  const byte = (i: number, j: number) => Math.max(byteAt(i, shared + j), 0)
  for (let i = 0; i < n; i++) {
    halves[2 * i + 1] = (byte(i, 0) << 24) | (byte(i, 1) << 16) | (byte(i, 2) << 8) | byte(i, 3)
    const low = (byte(i, 4) << 24) | (byte(i, 5) << 16) | (byte(i, 6) << 8) | byte(i, 7)
    halves[2 * i] = ((low >>> indexBits) << indexBits) | i
  }
  words.sort()
  const indexMask = (1 << indexBits) - 1
  // a loop into an array of the final length: Array.from with a callback is slower by a call per item
  const order: number[] = new Array(n)
  for (let i = 0; i < n; i++) order[i] = (halves[2 * i] as number) & indexMask
  // words whose kept bytes tie (the high 64 − indexBits bits) are ordered by the whole items
  const keptLow = (i: number) => (halves[2 * i] as number) >>> indexBits
  for (let start = 0; start < n; ) {
    let end = start + 1
    while (end < n && halves[2 * end + 1] === halves[2 * start + 1] && keptLow(end) === keptLow(start)) end++
    if (end - start > 1) {
      const run = order.slice(start, end).sort((a, b) => compare(a, b) || a - b)
      run.forEach((item, k) => {
        order[start + k] = item
      })
    }
    start = end
  }
  return order
}

// kept between calls: a tally sorts relays, accounts and leaf hashes, and every new large buffer adds
// to the external memory that makes V8 mark the whole heap
let scratch = new BigUint64Array(0)

/** How many leading bytes all n items have in common: one pass, each item compared with the first. */
function sharedPrefix(n: number, byteAt: (i: number, j: number) => number): number {
  let shared = 0
  while (byteAt(0, shared) >= 0) shared++
  for (let i = 1; i < n && shared > 0; i++) {
    let j = 0
    while (j < shared && byteAt(i, j) === byteAt(0, j)) j++
    shared = j
  }
  return shared
}
