import { hash } from 'node:crypto'
import { compareBytes, prefix48 } from './bytes.ts'
import { sha256 } from './hash.ts'

const LEAF = 0
const NODE = 1

/**
 * The root committing to an epoch's content: a binary Merkle tree over its item ids in ascending byte
 * order (leaves and inner nodes domain-separated; an odd node is carried up unchanged). The empty set's
 * root is sha256 of nothing tagged as a leaf, so empty epochs still have a well-defined root.
 */
export function contentRoot(itemIds: Iterable<Uint8Array>): Uint8Array {
  const sorted = sortedBytes([...itemIds])
  let level = sorted.filter((id, i) => i === 0 || compareBytes(id, sorted[i - 1] as Uint8Array) !== 0)
  if (level.length === 0) return sha256(Uint8Array.of(LEAF))
  level = level.map(id => tagged(LEAF, id))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(right ? tagged(NODE, level[i] as Uint8Array, right) : (level[i] as Uint8Array))
    }
    level = next
  }
  return new Uint8Array(level[0] as Uint8Array)
}

// the tree hashes two short inputs per item: assemble them in one reused buffer
const input = new Uint8Array(129)

/** sha256(tag ‖ left ‖ right). */
function tagged(tag: number, left: Uint8Array, right: Uint8Array = new Uint8Array(0)): Uint8Array {
  const length = 1 + left.length + right.length
  if (length > input.length) return sha256(Uint8Array.of(tag), left, right)
  input[0] = tag
  input.set(left, 1)
  input.set(right, 1 + left.length)
  return hash('sha256', input.subarray(0, length), 'buffer')
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
