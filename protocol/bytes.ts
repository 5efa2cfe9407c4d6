export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** `0x`-prefixed lowercase hex, the form EVM tooling expects. */
export function to0x(bytes: Uint8Array): `0x${string}` {
  return `0x${toHex(bytes)}`
}

/** Decodes hex (with or without `0x`); returns undefined unless it is well-formed and, if given, `length` bytes. */
export function parseHex(text: string, length?: number): Uint8Array | undefined {
  const hex = text.startsWith('0x') ? text.slice(2) : text
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined
  if (length !== undefined && hex.length !== length * 2) return undefined
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

// Keys, ids and hashes are short: comparing them in JavaScript costs less than a native call.
const SHORT = 64

/** -1, 0 or 1 as `a` sorts before, with or after `b` byte by byte (a prefix sorts first), like Buffer.compare. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length > SHORT || b.length > SHORT) return Buffer.compare(a, b)
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] as number
    const y = b[i] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

// From the end: PeerIds, keys and hashes of one kind share their leading bytes (a multihash prefix),
// so a difference shows up sooner at the back.
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  if (a.length > SHORT) return Buffer.compare(a, b) === 0
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

export function u64be(value: number | bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(value))
  return out
}

/** A uint256 as 32 big-endian bytes (the ABI word). */
export function u256be(value: bigint): Uint8Array {
  if (value < 0n || value >= 1n << 256n) throw new RangeError('uint256 out of range')
  return parseHex(value.toString(16).padStart(64, '0'), 32) as Uint8Array
}

export function fromU256be(bytes: Uint8Array): bigint {
  return BigInt(`0x${toHex(bytes) || '0'}`)
}

/**
 * bytes[offset, offset+6) as a number (0 past the end): ordering and bucketing keys for hashes and keys
 * without a string or a native call per item. Equal prefixes say nothing: compare the bytes.
 */
export function prefix48(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] ?? 0) * 2 ** 40 +
    (bytes[offset + 1] ?? 0) * 2 ** 32 +
    (((bytes[offset + 2] ?? 0) << 24) >>> 0) +
    ((bytes[offset + 3] ?? 0) << 16) +
    ((bytes[offset + 4] ?? 0) << 8) +
    (bytes[offset + 5] ?? 0)
  )
}

/**
 * Writes an address in canonical form (`0x` + 40 lower-case hex digits) as 20 bytes to out[o, o+20);
 * false, writing nothing useful, for any other text. Cheaper than parseHex for a million addresses.
 */
export function parseCanonicalAddress(text: string, out: Uint8Array, o: number): boolean {
  if (text.length !== 42 || text.charCodeAt(0) !== 0x30 || text.charCodeAt(1) !== 0x78) return false
  for (let i = 0; i < 20; i++) {
    const high = lowerHexDigit(text.charCodeAt(2 + 2 * i))
    const low = lowerHexDigit(text.charCodeAt(3 + 2 * i))
    if (high < 0 || low < 0) return false
    out[o + i] = 16 * high + low
  }
  return true
}

function lowerHexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10
  return -1
}
