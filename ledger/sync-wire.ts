import { encode } from 'cborg'
import { compareBytes } from '../protocol/bytes.ts'
import { decodeFields, uint } from '../protocol/codec.ts'
import { DecodeError } from '../protocol/errors.ts'
import { MAX_ATTESTATION_BYTES } from '../protocol/attestation.ts'
import { MAX_RELAY_RECORD_BYTES } from '../protocol/record.ts'

// The messages of /weir/<net>/sync/1.0.0 (docs/sync.md). Every limit here is part of the protocol: a
// peer that exceeds one is broken or hostile, and the stream is dropped.

export const ID_BYTES = 32
export const FINGERPRINT_BYTES = 32
/** A range bound is an id prefix, or an id followed by one 0 byte (the smallest bound above that id). */
export const MAX_BOUND_BYTES = ID_BYTES + 1
/** One frame, either direction, without its length prefix. */
export const MAX_MESSAGE_BYTES = 1024 * 1024
/** Ranges in one request. */
export const MAX_RANGES = 1024
/** Ids whose bodies one request asks for. */
export const MAX_WANTS = 4096
/** A differing range is split into at most this many parts. */
export const MAX_PARTS = 16
/** A differing range holding at most this many ids is answered with its ids rather than split. */
export const LIST_THRESHOLD = 32
/** Bytes of answers (ids, bounds, fingerprints) and of bodies a responder puts in one response. */
export const ANSWER_BUDGET = 512 * 1024
export const BODY_BUDGET = 256 * 1024
export const MAX_BODY_BYTES = Math.max(MAX_ATTESTATION_BYTES, MAX_RELAY_RECORD_BYTES)
export const MAX_EPOCH = 2 ** 32

export const KINDS = ['attestation', 'relay-record'] as const
export type ItemKind = (typeof KINDS)[number]

export interface Body {
  kind: ItemKind
  bytes: Uint8Array
}

/**
 * `[lo, hi)` over the id space; `hi` empty means unbounded above. `fingerprint` is the asker's fingerprint
 * of its own ids in the range ("compare"), or empty ("send me your ids in the range").
 */
export interface RangeQuery {
  lo: Uint8Array
  hi: Uint8Array
  fingerprint: Uint8Array
}

export interface SyncRequest {
  epoch: number
  /** ascending and pairwise disjoint */
  ranges: RangeQuery[]
  /** strictly ascending ids whose bodies are wanted */
  wants: Uint8Array[]
}

export type Answer =
  | { type: 'equal' }
  /** all of the responder's ids in the range (`complete`), or its first ids there (continue after the last) */
  | { type: 'ids'; ids: Uint8Array[]; complete: boolean }
  /** the range cut at `bounds` into bounds.length + 1 parts, with the responder's fingerprint of each */
  | { type: 'split'; bounds: Uint8Array[]; fingerprints: Uint8Array[] }

export interface SyncResponse {
  /** answers to a prefix of the request's ranges; the asker asks again for the rest */
  answers: Answer[]
  bodies: Body[]
  /** how many of the request's wants (a prefix) were dealt with: served, or unknown to the responder */
  served: number
}

const VERSION = 1
const ANSWER_TAG = { equal: 0, complete: 1, partial: 2, split: 3 } as const

const concatIds = (ids: Uint8Array[]): Uint8Array => Buffer.concat(ids)

export function encodeRequest(req: SyncRequest): Uint8Array {
  const ranges = req.ranges.map(r => [r.lo, r.hi, r.fingerprint])
  return encode([VERSION, req.epoch, ranges, concatIds(req.wants)])
}

export function encodeResponse(res: SyncResponse): Uint8Array {
  const answers = res.answers.map(a => {
    if (a.type === 'equal') return [ANSWER_TAG.equal]
    if (a.type === 'ids') return [a.complete ? ANSWER_TAG.complete : ANSWER_TAG.partial, concatIds(a.ids)]
    return [ANSWER_TAG.split, a.bounds, concatIds(a.fingerprints)]
  })
  const bodies = res.bodies.map(b => [KINDS.indexOf(b.kind), b.bytes])
  return encode([VERSION, answers, bodies, res.served])
}

/** Strictly decodes a request; throws DecodeError. Checks shapes and the ranges' order, not their content. */
export function decodeRequest(bytes: Uint8Array): SyncRequest {
  const f = decodeFields(bytes, MAX_MESSAGE_BYTES, 4, 'sync request')
  const epoch = uint(f[1], 'epoch', MAX_EPOCH)
  const rawRanges = array(f[2], 'ranges', MAX_RANGES)
  const ranges = rawRanges.map((raw, i) => {
    const r = array(raw, `ranges[${i}]`, 3, 3)
    const fingerprint = bytes0(r[2], `ranges[${i}].fingerprint`, FINGERPRINT_BYTES)
    if (fingerprint.length !== 0 && fingerprint.length !== FINGERPRINT_BYTES) {
      throw new DecodeError('field', `ranges[${i}].fingerprint: expected 0 or ${FINGERPRINT_BYTES} bytes`)
    }
    return {
      lo: bytes0(r[0], `ranges[${i}].lo`, MAX_BOUND_BYTES),
      hi: bytes0(r[1], `ranges[${i}].hi`, MAX_BOUND_BYTES),
      fingerprint,
    }
  })
  ranges.forEach((r, i) => {
    if (r.hi.length > 0 && compareBytes(r.lo, r.hi) >= 0) {
      throw new DecodeError('field', `ranges[${i}]: empty range`)
    }
    const next = ranges[i + 1]
    if (next && (r.hi.length === 0 || compareBytes(r.hi, next.lo) > 0)) {
      throw new DecodeError('field', `ranges[${i}]: ranges must be ascending and disjoint`)
    }
  })
  const wants = idList(f[3], 'wants', MAX_WANTS)
  return { epoch, ranges, wants }
}

/** Strictly decodes a response; throws DecodeError. The asker checks the answers against its request. */
export function decodeResponse(bytes: Uint8Array): SyncResponse {
  const f = decodeFields(bytes, MAX_MESSAGE_BYTES, 4, 'sync response')
  const answers = array(f[1], 'answers', MAX_RANGES).map((raw, i): Answer => {
    const a = array(raw, `answers[${i}]`, 3, 1)
    const tag = uint(a[0], `answers[${i}].type`, ANSWER_TAG.split)
    const arity = tag === ANSWER_TAG.equal ? 1 : tag === ANSWER_TAG.split ? 3 : 2
    if (a.length !== arity) throw new DecodeError('malformed', `answers[${i}]: expected ${arity} fields`)
    if (tag === ANSWER_TAG.equal) return { type: 'equal' }
    if (tag !== ANSWER_TAG.split) {
      const ids = idList(a[1], `answers[${i}].ids`, ANSWER_BUDGET / ID_BYTES)
      return { type: 'ids', ids, complete: tag === ANSWER_TAG.complete }
    }
    const bounds = array(a[1], `answers[${i}].bounds`, MAX_PARTS - 1, 1).map((b, j) => {
      const bound = bytes0(b, `answers[${i}].bounds[${j}]`, MAX_BOUND_BYTES)
      if (bound.length === 0) throw new DecodeError('field', `answers[${i}].bounds[${j}]: empty bound`)
      return bound
    })
    const fingerprints = chunks(a[2], `answers[${i}].fingerprints`, FINGERPRINT_BYTES, MAX_PARTS)
    if (fingerprints.length !== bounds.length + 1) {
      throw new DecodeError('field', `answers[${i}]: expected ${bounds.length + 1} fingerprints`)
    }
    return { type: 'split', bounds, fingerprints }
  })
  const bodies = array(f[2], 'bodies', MAX_WANTS).map((raw, i) => {
    const b = array(raw, `bodies[${i}]`, 2, 2)
    const kind = KINDS[uint(b[0], `bodies[${i}].kind`, KINDS.length - 1)] as ItemKind
    const body = bytes0(b[1], `bodies[${i}].bytes`, MAX_BODY_BYTES)
    if (body.length === 0) throw new DecodeError('field', `bodies[${i}].bytes: empty`)
    return { kind, bytes: body }
  })
  const served = uint(f[3], 'served', MAX_WANTS)
  return { answers, bodies, served }
}

function array(value: unknown, field: string, max: number, min = 0): unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > max) {
    throw new DecodeError('field', `${field}: expected an array of ${min} to ${max} elements`)
  }
  return value
}

function bytes0(value: unknown, field: string, maxLength: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length > maxLength) {
    throw new DecodeError('field', `${field}: expected at most ${maxLength} bytes`)
  }
  return value
}

function chunks(value: unknown, field: string, size: number, maxCount: number): Uint8Array[] {
  const all = bytes0(value, field, size * maxCount)
  if (all.length % size !== 0) throw new DecodeError('field', `${field}: not a multiple of ${size} bytes`)
  const out: Uint8Array[] = []
  for (let at = 0; at < all.length; at += size) out.push(all.subarray(at, at + size))
  return out
}

/** A concatenation of strictly ascending 32-byte ids. */
function idList(value: unknown, field: string, maxCount: number): Uint8Array[] {
  const ids = chunks(value, field, ID_BYTES, maxCount)
  for (let i = 1; i < ids.length; i++) {
    if (compareBytes(ids[i - 1] as Uint8Array, ids[i] as Uint8Array) >= 0) {
      throw new DecodeError('field', `${field}: ids must be strictly ascending`)
    }
  }
  return ids
}
