import { decode, encode } from 'cborg'
import { concatBytes, equalBytes, utf8 } from './bytes.ts'
import { DecodeError } from './errors.ts'
import { decodeSubset, encodeSubset, type Field } from './fast/cbor.ts'

export type { Field }

// Every signed message is a CBOR array of positional fields in cborg's deterministic encoding
// (RFC 8949 §4.2: shortest forms, definite lengths). Decoding is strict: the input must be exactly the
// canonical encoding of what it decodes to, so every message has one byte form and one id.

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
} as const

// cborg's strict mode itself refuses non-shortest integers and indefinite lengths; those inputs are
// well-formed CBOR in a non-canonical form, and are reported as such.
const NONSHORTEST = /more bytes than necessary|indefinite length/

export function encodeFields(fields: Field[]): Uint8Array {
  // the common subset from ./fast/cbor.ts, which writes exactly what cborg writes
  const direct = encodeSubset(fields)
  if (direct) return direct
  // cborg hands back a Node Buffer cut from the shared 8 KiB pool: its .buffer holds unrelated bytes and
  // its .slice() is a view, not a copy. Callers get a plain Uint8Array that owns its bytes.
  return new Uint8Array(encode(fields))
}

/** Decodes a canonical CBOR array of `arity` fields no longer than `maxBytes`, of version 1. */
export function decodeFields(bytes: Uint8Array, maxBytes: number, arity: number, what: string): unknown[] {
  return decodeVersionedFields(bytes, maxBytes, { 1: arity }, what)
}

/**
 * Decodes a canonical CBOR array no longer than `maxBytes` whose first field is one of the versions in
 * `arities`, with that version's number of fields.
 */
export function decodeVersionedFields(
  bytes: Uint8Array,
  maxBytes: number,
  arities: Readonly<Record<number, number>>,
  what: string,
): unknown[] {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('malformed', `${what}: expected bytes`)
  if (bytes.length > maxBytes)
    throw new DecodeError('oversize', `${what}: ${bytes.length} bytes, limit ${maxBytes}`)
  // canonical input in the common subset (./fast/cbor.ts) needs neither cborg nor the check below
  const direct = decodeSubset(bytes)
  if (direct !== undefined) return checkShape(direct, arities, what)
  let value: unknown
  try {
    value = decode(bytes, DECODE_OPTIONS)
  } catch (err) {
    const message = (err as Error).message
    throw new DecodeError(NONSHORTEST.test(message) ? 'noncanonical' : 'malformed', `${what}: ${message}`)
  }
  const fields = checkShape(value, arities, what)
  let canonical: Uint8Array
  try {
    canonical = encode(value)
  } catch {
    throw new DecodeError('malformed', `${what}: not encodable`)
  }
  if (!equalBytes(canonical, bytes)) throw new DecodeError('noncanonical', `${what}: not in canonical form`)
  return fields
}

function checkShape(value: unknown, arities: Readonly<Record<number, number>>, what: string): unknown[] {
  if (!Array.isArray(value)) throw new DecodeError('malformed', `${what}: expected a CBOR array`)
  const version = value[0]
  const expected =
    typeof version === 'number' && Object.hasOwn(arities, version) ? arities[version] : undefined
  if (expected === undefined)
    throw new DecodeError('version', `${what}: unknown version ${String(value[0]).slice(0, 20)}`)
  if (value.length !== expected)
    throw new DecodeError('malformed', `${what}: expected ${expected} fields, got ${value.length}`)
  return value
}

export function uint(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new DecodeError('field', `${field}: expected an integer from 0 to ${max}`)
  }
  return value
}

export function bytesField(value: unknown, field: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new DecodeError('field', `${field}: expected ${length} bytes`)
  }
  return value
}

export function text(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new DecodeError('field', `${field}: expected a string of 1 to ${maxLength} characters`)
  }
  return value
}

/**
 * The bytes an Ed25519 signature covers: a per-type tag and the network id (both NUL-terminated; neither
 * can contain NUL) before the canonical body, so a signature means one thing on one network.
 */
export function signingBytes(tag: string, networkId: string, body: Uint8Array): Uint8Array {
  return concatBytes(utf8(tag), Uint8Array.of(0), utf8(networkId), Uint8Array.of(0), body)
}
