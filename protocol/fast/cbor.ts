// A direct encoder and strict decoder for the CBOR that Weir's messages are made of: unsigned safe
// integers, ASCII text, byte strings and arrays of them, in canonical form (shortest arguments, definite
// lengths). ../codec.ts defines the encoding with cborg; this gives the same bytes and values without
// cborg's per-call allocations. Anything outside that subset (negative or non-integer numbers, non-ASCII
// text, other types, deep nesting) and every input it would not accept as canonical are left to cborg,
// so results and errors never change. Contract: test/protocol/speedups.test.ts holds it to cborg;
// docs/performance.md has the measurements that keep it here.

/** `undefined`: the value is outside the subset (cborg decides). */
const OUTSIDE = undefined
const MAX_DEPTH = 8
const TWO_32 = 2 ** 32

let scratch = new Uint8Array(1024)
let at = 0

/** A value of the canonical subset: unsigned integers, text, bytes and arrays of them. */
export type Field = number | string | Uint8Array | Field[]

/** The canonical encoding of `fields`, or undefined when cborg must encode them. */
export function encodeSubset(fields: Field[]): Uint8Array | undefined {
  at = 0
  if (!put(fields, 0)) return OUTSIDE
  return scratch.slice(0, at)
}

function room(n: number): void {
  if (at + n <= scratch.length) return
  const grown = new Uint8Array(Math.max(2 * scratch.length, at + n))
  grown.set(scratch.subarray(0, at))
  scratch = grown
}

function head(major: number, value: number): void {
  room(9)
  const m = major << 5
  if (value < 24) scratch[at++] = m | value
  else if (value < 256) {
    scratch[at++] = m | 24
    scratch[at++] = value
  } else if (value < 65536) {
    scratch[at++] = m | 25
    scratch[at++] = value >>> 8
    scratch[at++] = value & 255
  } else if (value < TWO_32) {
    scratch[at++] = m | 26
    word(value)
  } else {
    scratch[at++] = m | 27
    word(Math.floor(value / TWO_32))
    word(value % TWO_32)
  }
}

function word(value: number): void {
  scratch[at++] = value >>> 24
  scratch[at++] = (value >>> 16) & 255
  scratch[at++] = (value >>> 8) & 255
  scratch[at++] = value & 255
}

function put(value: Field, depth: number): boolean {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return false
    head(0, value)
    return true
  }
  if (typeof value === 'string') {
    const n = value.length
    for (let i = 0; i < n; i++) if (value.charCodeAt(i) >= 0x80) return false
    head(3, n)
    room(n)
    for (let i = 0; i < n; i++) scratch[at++] = value.charCodeAt(i)
    return true
  }
  if (value instanceof Uint8Array) {
    head(2, value.length)
    room(value.length)
    scratch.set(value, at)
    at += value.length
    return true
  }
  if (!Array.isArray(value) || depth >= MAX_DEPTH) return false
  head(4, value.length)
  for (let i = 0; i < value.length; i++) {
    if (!put(value[i] as Field, depth + 1)) return false
  }
  return true
}

let input: Uint8Array = new Uint8Array(0)
let pos = 0

/**
 * The value of `bytes` if they are exactly the canonical encoding of a value in the subset; undefined
 * otherwise (including every non-canonical or malformed input, for cborg to judge).
 */
export function decodeSubset(bytes: Uint8Array): Field | undefined {
  input = bytes
  pos = 0
  const value = take(0)
  const done = value !== OUTSIDE && pos === bytes.length
  input = new Uint8Array(0)
  return done ? value : OUTSIDE
}

/** A canonical argument of the head at `pos`; -1 when absent, truncated or not in shortest form. */
function argument(additional: number): number {
  if (additional < 24) return additional
  const left = input.length - pos
  if (additional === 24) {
    if (left < 1) return -1
    const v = input[pos++] as number
    return v < 24 ? -1 : v
  }
  if (additional === 25) {
    if (left < 2) return -1
    const v = ((input[pos] as number) << 8) | (input[pos + 1] as number)
    pos += 2
    return v < 256 ? -1 : v
  }
  if (additional === 26) {
    if (left < 4) return -1
    const v = readWord(pos)
    pos += 4
    return v < 65536 ? -1 : v
  }
  if (additional === 27) {
    if (left < 8) return -1
    const hi = readWord(pos)
    const lo = readWord(pos + 4)
    pos += 8
    if (hi === 0 || hi > 0x1fffff) return -1
    return hi * TWO_32 + lo
  }
  return -1
}

function readWord(i: number): number {
  return (
    (input[i] as number) * 16777216 +
    ((input[i + 1] as number) << 16) +
    ((input[i + 2] as number) << 8) +
    (input[i + 3] as number)
  )
}

function take(depth: number): Field | undefined {
  if (pos >= input.length) return OUTSIDE
  const initial = input[pos++] as number
  const major = initial >> 5
  const n = argument(initial & 31)
  if (n < 0) return OUTSIDE
  if (major === 0) return n
  if (major === 2 || major === 3) {
    if (n > input.length - pos) return OUTSIDE
    const start = pos
    pos += n
    // a copy that owns its bytes, a plain Uint8Array even when the input is a Buffer (as cborg returns)
    if (major === 2) {
      const out = new Uint8Array(n)
      out.set(input.subarray(start, pos))
      return out
    }
    let text = ''
    for (let i = start; i < pos; i++) {
      const c = input[i] as number
      if (c >= 0x80) return OUTSIDE
      text += String.fromCharCode(c)
    }
    return text
  }
  if (major !== 4 || depth >= MAX_DEPTH || n > input.length - pos) return OUTSIDE
  const out: Field[] = []
  for (let i = 0; i < n; i++) {
    const item = take(depth + 1)
    if (item === OUTSIDE) return OUTSIDE
    out.push(item)
  }
  return out
}
