import { compareBytes, equalBytes, toHex, u64be } from '../protocol/bytes.ts'
import { sha256 } from '../protocol/hash.ts'
import { itemId } from '../protocol/record.ts'
import {
  ANSWER_BUDGET,
  type Answer,
  BODY_BUDGET,
  type Body,
  ID_BYTES,
  LIST_THRESHOLD,
  MAX_BODY_BYTES,
  MAX_PARTS,
  MAX_RANGES,
  MAX_WANTS,
  type SyncRequest,
  type SyncResponse,
} from './sync-wire.ts'

// Range-based set reconciliation (Meyer, arXiv 2212.13567), split between a stateless responder
// (answerRequest) and an asker that holds all the state (Reconciler). Pure: no I/O, no clock.

export type SyncErrorCode = 'protocol' | 'limit' | 'timeout' | 'closed'

export interface SyncResult {
  /** bodies accepted (asked for, id checked) and handed to the caller */
  received: number
  /** bodies the peer sent that we had not asked for, ignored */
  dropped: number
  /** ids we hold that the peer lacks, ascending */
  theyLack: Uint8Array[]
  /** ids the peer holds that we lacked (asked for, whether or not their bodies came), ascending */
  theyHave: Uint8Array[]
  /** frames with their length prefixes, as written to and read from the stream */
  bytesSent: number
  bytesReceived: number
  /** request/response exchanges */
  rounds: number
}

/** Why a sync stopped early; `partial` is what it achieved. Items already handed to the caller stay handed. */
export class SyncError extends Error {
  override name = 'SyncError'
  partial?: SyncResult
  constructor(
    readonly code: SyncErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * An epoch's ids, ascending, packed into one buffer so that locating a range is a binary search and
 * fingerprinting it is one sha256 call over contiguous memory.
 */
export class IdSet {
  private constructor(
    private readonly packed: Buffer,
    readonly size: number,
  ) {}

  /** Throws unless `ids` are strictly ascending 32-byte ids. */
  static from(ids: readonly Uint8Array[]): IdSet {
    const packed = Buffer.allocUnsafe(ids.length * ID_BYTES)
    ids.forEach((id, i) => {
      if (id.length !== ID_BYTES) throw new Error(`sync source: id ${i} is not ${ID_BYTES} bytes`)
      if (i > 0 && compareBytes(ids[i - 1] as Uint8Array, id) >= 0) {
        throw new Error(`sync source: ids are not strictly ascending at ${i}`)
      }
      packed.set(id, i * ID_BYTES)
    })
    return new IdSet(packed, ids.length)
  }

  id(index: number): Uint8Array {
    return this.packed.subarray(index * ID_BYTES, (index + 1) * ID_BYTES)
  }

  slice(from: number, to: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let i = from; i < to; i++) out.push(this.id(i))
    return out
  }

  /** Index of the first id ≥ bound. */
  lowerBound(bound: Uint8Array): number {
    let lo = 0
    let hi = this.size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const at = mid * ID_BYTES
      if (this.packed.compare(bound, 0, bound.length, at, at + ID_BYTES) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Indices [from, to) of the ids in [lo, hi); an empty `hi` is unbounded. */
  locate(lo: Uint8Array, hi: Uint8Array): [number, number] {
    return [this.lowerBound(lo), hi.length === 0 ? this.size : this.lowerBound(hi)]
  }

  fingerprint(from: number, to: number): Uint8Array {
    return sha256(u64be(to - from), this.packed.subarray(from * ID_BYTES, to * ID_BYTES))
  }
}

/**
 * sha256 over the count and the concatenated ids: collision-resistant outright, so a peer (or whoever
 * crafted the items) cannot make two different ranges look equal. Not incremental, but each round hashes
 * each id at most twice because a request's ranges are disjoint.
 */
export const EMPTY_FINGERPRINT = sha256(u64be(0))

/** The shortest bound b with below < b ≤ above (below < above): `above` cut one byte past the shared prefix. */
function shortestBound(below: Uint8Array, above: Uint8Array): Uint8Array {
  let shared = 0
  while (below[shared] === above[shared]) shared++
  return above.subarray(0, shared + 1)
}

/** The smallest bound above `id`: every id greater than it is ≥ id‖0x00. */
const justAfter = (id: Uint8Array): Uint8Array => Buffer.concat([id, Uint8Array.of(0)])

/** The responder's side of one round. `bodies` are the responder's bodies for (some of) `req.wants`. */
export function answerRequest(set: IdSet, req: SyncRequest, bodies: readonly Body[]): SyncResponse {
  const answers: Answer[] = []
  let budget = ANSWER_BUDGET
  for (const range of req.ranges) {
    const [from, to] = set.locate(range.lo, range.hi)
    const count = to - from
    if (range.fingerprint.length > 0) {
      if (equalBytes(set.fingerprint(from, to), range.fingerprint)) {
        answers.push({ type: 'equal' })
        budget -= 2
        continue
      }
      if (count > LIST_THRESHOLD) {
        const split = splitRange(set, from, to)
        const cost =
          split.bounds.reduce((sum, b) => sum + b.length + 2, 0) + split.fingerprints.length * 32 + 8
        if (cost > budget) break
        answers.push(split)
        budget -= cost
        continue
      }
    }
    const fit = Math.min(count, Math.max(0, Math.floor((budget - 8) / ID_BYTES)))
    if (fit === 0 && count > 0) break
    answers.push({ type: 'ids', ids: set.slice(from, from + fit), complete: fit === count })
    budget -= 8 + fit * ID_BYTES
    if (fit < count) break
  }
  const byId = new Map<string, Body>()
  for (const b of bodies) {
    if (b.bytes.length > 0 && b.bytes.length <= MAX_BODY_BYTES) byId.set(toHex(itemId(b.kind, b.bytes)), b)
  }
  const served: Body[] = []
  let bodyBudget = BODY_BUDGET
  let dealt = 0
  for (const id of req.wants) {
    const body = byId.get(toHex(id))
    if (body) {
      if (body.bytes.length + 8 > bodyBudget) break
      served.push(body)
      bodyBudget -= body.bytes.length + 8
    }
    dealt++
  }
  return { answers, bodies: served, served: dealt }
}

/** Cuts [from, to) (more than MAX_PARTS ids) into MAX_PARTS parts of near-equal count. */
function splitRange(set: IdSet, from: number, to: number): Answer & { type: 'split' } {
  const count = to - from
  const bounds: Uint8Array[] = []
  const fingerprints: Uint8Array[] = []
  let start = from
  for (let p = 1; p <= MAX_PARTS; p++) {
    const end = from + Math.floor((p * count) / MAX_PARTS)
    fingerprints.push(set.fingerprint(start, end))
    if (p < MAX_PARTS) bounds.push(shortestBound(set.id(end - 1), set.id(end)))
    start = end
  }
  return { type: 'split', bounds, fingerprints }
}

interface Pending {
  lo: Uint8Array
  hi: Uint8Array
  /** ask for the peer's ids outright (we hold none there, or a listing is being continued) */
  list: boolean
}

const byLo = (a: Pending, b: Pending) => compareBytes(a.lo, b.lo)
const inRange = (id: Uint8Array, r: Pending) =>
  compareBytes(r.lo, id) <= 0 && (r.hi.length === 0 || compareBytes(id, r.hi) < 0)

/**
 * The asking side: decides what to ask, checks every answer against the question, and learns both what
 * it lacks (fetched as bodies) and what the peer lacks (`theyLack`).
 */
export class Reconciler {
  private queue: Pending[]
  private wantQueue: Uint8Array[] = []
  private inFlight: { ranges: Pending[]; wants: Uint8Array[] } | undefined
  private readonly lacking: Uint8Array[] = []
  private readonly missing: Uint8Array[] = []
  /** wants the peer said it had (listed) but did not serve */
  unavailable = 0
  /** bodies dropped because we did not ask for them */
  dropped = 0

  constructor(
    private readonly own: IdSet,
    private readonly epoch: number,
    private readonly maxPending = 65536,
  ) {
    this.queue = [{ lo: new Uint8Array(0), hi: new Uint8Array(0), list: own.size === 0 }]
  }

  get done(): boolean {
    return this.inFlight === undefined && this.queue.length === 0 && this.wantQueue.length === 0
  }

  /** Ids we hold that the peer lacks, ascending. */
  get theyLack(): Uint8Array[] {
    return [...this.lacking].sort(compareBytes)
  }

  /** Ids the peer holds that we lack, ascending: with ours minus theyLack, exactly the peer's set. */
  get theyHave(): Uint8Array[] {
    return [...this.missing].sort(compareBytes)
  }

  nextRequest(): SyncRequest {
    if (this.inFlight) throw new Error('reconciler: a request is already in flight')
    const ranges = this.queue.splice(0, MAX_RANGES).sort(byLo)
    const wants = this.wantQueue.splice(0, MAX_WANTS).sort(compareBytes)
    this.inFlight = { ranges, wants }
    return {
      epoch: this.epoch,
      ranges: ranges.map(r => ({
        lo: r.lo,
        hi: r.hi,
        fingerprint: r.list ? new Uint8Array(0) : this.own.fingerprint(...this.own.locate(r.lo, r.hi)),
      })),
      wants,
    }
  }

  /** Checks a response against the request in flight; returns the bodies we asked for (still untrusted). */
  acceptResponse(res: SyncResponse): Body[] {
    const sent = this.inFlight
    if (!sent) throw new Error('reconciler: no request in flight')
    this.inFlight = undefined
    if (res.answers.length > sent.ranges.length) throw new SyncError('protocol', 'more answers than ranges')
    if (res.served > sent.wants.length) throw new SyncError('protocol', 'served more wants than asked')
    let progress = res.served > 0 || (sent.ranges.length === 0 && sent.wants.length === 0)
    res.answers.forEach((answer, i) => {
      progress = this.applyAnswer(sent.ranges[i] as Pending, answer) || progress
    })
    if (!progress) throw new SyncError('protocol', 'peer made no progress')
    this.queue.unshift(...sent.ranges.slice(res.answers.length))
    if (this.queue.length > this.maxPending) {
      throw new SyncError('limit', `more than ${this.maxPending} ranges pending`)
    }

    const asked = new Map(sent.wants.map((id, i) => [toHex(id), i]))
    const got = new Set<number>()
    const accepted: Body[] = []
    for (const body of res.bodies) {
      const index = asked.get(toHex(itemId(body.kind, body.bytes)))
      if (index === undefined || got.has(index)) {
        this.dropped++
        continue
      }
      got.add(index)
      accepted.push(body)
    }
    sent.wants.forEach((id, i) => {
      if (got.has(i)) return
      if (i < res.served) this.unavailable++
      else this.wantQueue.push(id)
    })
    return accepted
  }

  /** Returns whether the answer moved the reconciliation forward. */
  private applyAnswer(range: Pending, answer: Answer): boolean {
    if (answer.type === 'equal') {
      if (range.list) throw new SyncError('protocol', 'answered "equal" to a listing')
      return true
    }
    if (answer.type === 'ids') {
      if (!answer.ids.every(id => inRange(id, range)))
        throw new SyncError('protocol', 'listed id out of range')
      const last = answer.ids[answer.ids.length - 1]
      if (answer.complete) {
        this.compareListing(range.lo, range.hi, answer.ids)
        return true
      }
      if (!last) {
        this.queue.unshift(range)
        return false
      }
      const after = justAfter(last)
      this.compareListing(range.lo, after, answer.ids)
      const rest = { lo: after, hi: range.hi, list: true }
      if (rest.hi.length === 0 || compareBytes(rest.lo, rest.hi) < 0) this.queue.push(rest)
      return true
    }
    if (range.list) throw new SyncError('protocol', 'answered a listing with a split')
    const edges = [range.lo, ...answer.bounds, range.hi]
    for (let p = 0; p < answer.fingerprints.length; p++) {
      const part: Pending = { lo: edges[p] as Uint8Array, hi: edges[p + 1] as Uint8Array, list: false }
      const nonEmpty = part.hi.length === 0 || compareBytes(part.lo, part.hi) < 0
      if (!nonEmpty) throw new SyncError('protocol', 'split bounds are not ascending within the range')
      const [from, to] = this.own.locate(part.lo, part.hi)
      const theirs = answer.fingerprints[p] as Uint8Array
      if (equalBytes(theirs, this.own.fingerprint(from, to))) continue
      if (equalBytes(theirs, EMPTY_FINGERPRINT)) this.lacking.push(...this.own.slice(from, to))
      else this.queue.push({ ...part, list: from === to })
    }
    return true
  }

  /** Our ids in [lo, hi) against the peer's full listing of that range. */
  private compareListing(lo: Uint8Array, hi: Uint8Array, theirs: Uint8Array[]): void {
    let [i, to] = this.own.locate(lo, hi)
    let j = 0
    while (i < to || j < theirs.length) {
      const order =
        i >= to ? 1 : j >= theirs.length ? -1 : compareBytes(this.own.id(i), theirs[j] as Uint8Array)
      if (order < 0) this.lacking.push(this.own.id(i++))
      else if (order > 0) {
        const id = theirs[j++] as Uint8Array
        this.wantQueue.push(id)
        this.missing.push(id)
      } else {
        i++
        j++
      }
    }
  }
}
