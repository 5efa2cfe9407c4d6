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
  const ids = distinctSorted(itemIds)
  if (ids.length === 0) return EMPTY_ROOT()
  let level = ids.map(id => tagged(LEAF, id))
  while (level.length > 1) level = nextLevel(level)
  return new Uint8Array(level[0] as Uint8Array)
}

const EMPTY_ROOT = (): Uint8Array => sha256(Uint8Array.of(LEAF))

function distinctSorted(itemIds: Iterable<Uint8Array>): Uint8Array[] {
  const sorted = sortedBytes([...itemIds])
  return sorted.filter((id, i) => i === 0 || compareBytes(id, sorted[i - 1] as Uint8Array) !== 0)
}

/** The level above: pairs hashed as nodes, an odd last node carried up unchanged. */
function nextLevel(level: Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = []
  for (let i = 0; i < level.length; i += 2) {
    const right = level[i + 1]
    next.push(right ? tagged(NODE, level[i] as Uint8Array, right) : (level[i] as Uint8Array))
  }
  return next
}

/** The tree contentRoot commits with: the distinct ids in order, and its levels from the leaves up. */
export interface ContentTree {
  ids: Uint8Array[]
  /** levels[0] holds the leaf hashes, the last level the root alone (none for the empty set) */
  levels: Uint8Array[][]
  root: Uint8Array
}

/** contentRoot's tree, kept whole to prove items with (contentRoot keeps only the level it is on). */
export function contentTree(itemIds: Iterable<Uint8Array>): ContentTree {
  const ids = distinctSorted(itemIds)
  if (ids.length === 0) return { ids, levels: [], root: EMPTY_ROOT() }
  const levels = [ids.map(id => tagged(LEAF, id))]
  while ((levels.at(-1) as Uint8Array[]).length > 1) levels.push(nextLevel(levels.at(-1) as Uint8Array[]))
  return { ids, levels, root: new Uint8Array((levels.at(-1) as Uint8Array[])[0] as Uint8Array) }
}

/**
 * The proof that the id at `index` (in ContentTree.ids) is in the tree: the sibling of its node on each
 * level that has one, from the leaf up (a node carried up unchanged has none).
 */
export function contentProof(tree: ContentTree, index: number): Uint8Array[] {
  const proof: Uint8Array[] = []
  let i = index
  for (const level of tree.levels.slice(0, -1)) {
    const sibling = level[i % 2 === 1 ? i - 1 : i + 1]
    if (sibling) proof.push(sibling)
    i >>= 1
  }
  return proof
}

/**
 * Whether `proof` shows `id` at `index` of a content tree of `count` distinct ids whose root is `root`.
 * The leaf and node tags differ, so no inner node passes for an item.
 */
export function verifyContentProof(
  root: Uint8Array,
  id: Uint8Array,
  index: number,
  count: number,
  proof: readonly Uint8Array[],
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count)
    return false
  let hash = tagged(LEAF, id)
  let used = 0
  for (let i = index, n = count; n > 1; i >>= 1, n = Math.ceil(n / 2)) {
    if (i % 2 === 0 && i + 1 === n) continue
    const sibling = proof[used++]
    if (sibling === undefined || sibling.length !== 32) return false
    hash = i % 2 === 1 ? tagged(NODE, sibling, hash) : tagged(NODE, hash, sibling)
  }
  return used === proof.length && compareBytes(hash, root) === 0
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
