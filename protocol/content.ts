import { compareBytes, prefix48 } from './bytes.ts'
import { sha256 } from './hash.ts'

const LEAF = Uint8Array.of(0)
const NODE = Uint8Array.of(1)

/**
 * The root committing to an epoch's content: a binary Merkle tree over its item ids in ascending byte
 * order (leaves and inner nodes domain-separated; an odd node is carried up unchanged). The empty set's
 * root is sha256 of nothing tagged as a leaf, so empty epochs still have a well-defined root.
 */
export function contentRoot(itemIds: Iterable<Uint8Array>): Uint8Array {
  const sorted = sortedBytes([...itemIds])
  let level = sorted.filter((id, i) => i === 0 || compareBytes(id, sorted[i - 1] as Uint8Array) !== 0)
  if (level.length === 0) return sha256(LEAF)
  level = level.map(id => sha256(LEAF, id))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(right ? sha256(NODE, level[i] as Uint8Array, right) : (level[i] as Uint8Array))
    }
    level = next
  }
  return level[0] as Uint8Array
}

/**
 * `ids` in ascending byte order: by their first 48 bits, then by all bytes when those are equal, which
 * is the same order as comparing all bytes, without a native call per comparison.
 */
function sortedBytes(ids: Uint8Array[]): Uint8Array[] {
  const keys = new Float64Array(ids.length)
  const order = new Uint32Array(ids.length)
  for (let i = 0; i < ids.length; i++) {
    keys[i] = prefix48(ids[i] as Uint8Array, 0)
    order[i] = i
  }
  order.sort(
    (a, b) =>
      (keys[a] as number) - (keys[b] as number) || compareBytes(ids[a] as Uint8Array, ids[b] as Uint8Array),
  )
  return Array.from(order, i => ids[i] as Uint8Array)
}
