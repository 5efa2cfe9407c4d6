import { equalBytes } from './bytes.ts'
import { bytesField, decodeVersionedFields, encodeFields, signingBytes, text, uint } from './codec.ts'
import { signEd25519, verifyEd25519 } from './ed25519.ts'
import { PEER_ID_BYTES, publicKeyOfPeerId } from './peer.ts'

export const ATTESTATION_TAG = 'weir/attestation/v1'
/** Version 2 adds the target's reported background traffic (FlashFlow's rule, capacityOf). */
export const ATTESTATION_V2_TAG = 'weir/attestation/v2'
export const MAX_ATTESTATION_BYTES = 512
/** v2 rates stay below 2^48 bytes/s, so a rate with its credited background is still a safe integer. */
const MAX_V2_BPS = 2 ** 48

/**
 * FlashFlow's background rule with r = 1/4: the target's other traffic during a probe counts toward its
 * capacity, but at most r/(1 − r) = 1/3 of what the probe itself moved, so a relay that invents background
 * gains at most 4/3.
 */
export const BACKGROUND_CREDIT_DIVISOR = 3

export const OUTCOMES = ['ok', 'unreachable', 'refused', 'timeout', 'corrupt'] as const
export type Outcome = (typeof OUTCOMES)[number]

/** A witness's signed account of one probe of one relay. */
export interface AttestationBody {
  net: string
  epoch: number
  relay: Uint8Array
  witness: Uint8Array
  /** the second relay of the probe circuit */
  helper: Uint8Array
  /** unix ms */
  startedAt: number
  durationMs: number
  /** payload bytes verified by the sink, both directions */
  bytes: number
  forwardBps: number
  reverseBps: number
  rttMs: number
  outcome: Outcome
  /**
   * Version 2 only: what the target reported relaying for others (its users, other circuits) while each
   * window was measured, bytes/s; credited by capacityOf up to a third of the probe's own rate
   */
  background?: { forwardBps: number; reverseBps: number }
}

export interface Attestation extends AttestationBody {
  signature: Uint8Array
}

/** The signed fields: version 2 has the background's two between reverseBps and rttMs. */
function bodyFields(a: AttestationBody) {
  const b = a.background
  return [
    b ? 2 : 1,
    a.net,
    a.epoch,
    a.relay,
    a.witness,
    a.helper,
    a.startedAt,
    a.durationMs,
    a.bytes,
    a.forwardBps,
    a.reverseBps,
    ...(b ? [b.forwardBps, b.reverseBps] : []),
    a.rttMs,
    OUTCOMES.indexOf(a.outcome),
  ]
}

const tagOf = (a: AttestationBody) => (a.background ? ATTESTATION_V2_TAG : ATTESTATION_TAG)

export function signAttestation(body: AttestationBody, seed: Uint8Array): Attestation {
  const signature = signEd25519(seed, signingBytes(tagOf(body), body.net, encodeFields(bodyFields(body))))
  return { ...body, signature }
}

export function encodeAttestation(a: Attestation): Uint8Array {
  return encodeFields([...bodyFields(a), a.signature])
}

/** Strictly decodes an attestation of either version; throws DecodeError. Does not check the signature. */
export function decodeAttestation(bytes: Uint8Array): Attestation {
  const f = decodeVersionedFields(bytes, MAX_ATTESTATION_BYTES, { 1: 14, 2: 16 }, 'attestation')
  const v2 = f[0] === 2
  const bps = v2 ? MAX_V2_BPS : Number.MAX_SAFE_INTEGER
  // in version 2 the background's two fields come before rttMs
  const at = v2 ? 2 : 0
  const a: Attestation = {
    net: text(f[1], 'net', 32),
    epoch: uint(f[2], 'epoch', 2 ** 32),
    relay: bytesField(f[3], 'relay', PEER_ID_BYTES),
    witness: bytesField(f[4], 'witness', PEER_ID_BYTES),
    helper: bytesField(f[5], 'helper', PEER_ID_BYTES),
    startedAt: uint(f[6], 'startedAt'),
    durationMs: uint(f[7], 'durationMs', 2 ** 32),
    bytes: uint(f[8], 'bytes'),
    forwardBps: uint(f[9], 'forwardBps', bps),
    reverseBps: uint(f[10], 'reverseBps', bps),
    rttMs: uint(f[11 + at], 'rttMs', 2 ** 32),
    outcome: OUTCOMES[uint(f[12 + at], 'outcome', OUTCOMES.length - 1)] as Outcome,
    signature: bytesField(f[13 + at], 'signature', 64),
  }
  if (v2)
    a.background = {
      forwardBps: uint(f[11], 'forwardBackgroundBps', MAX_V2_BPS),
      reverseBps: uint(f[12], 'reverseBackgroundBps', MAX_V2_BPS),
    }
  return a
}

export function verifyAttestation(a: Attestation): boolean {
  let key: Uint8Array
  try {
    key = publicKeyOfPeerId(a.witness)
  } catch {
    return false
  }
  return verifyEd25519(key, signingBytes(tagOf(a), a.net, encodeFields(bodyFields(a))), a.signature)
}

/** A direction's rate with its credited background: at most a third of the probe's own rate on top. */
function credited(probeBps: number, backgroundBps: number): number {
  return probeBps + Math.min(backgroundBps, Math.floor(probeBps / BACKGROUND_CREDIT_DIVISOR))
}

/**
 * The capacity a probe shows for relaying: the slower direction, each with its credited background (v2);
 * failed probes count as 0.
 */
export function capacityOf(a: AttestationBody): number {
  if (a.outcome !== 'ok') return 0
  const b = a.background
  if (!b) return Math.min(a.forwardBps, a.reverseBps)
  return Math.min(credited(a.forwardBps, b.forwardBps), credited(a.reverseBps, b.reverseBps))
}

// A strictly decoded attestation's bytes are the canonical encoding of its 14 (v2: 16) fields, so the
// signed body is those bytes minus the signature field (0x58 0x40 and 64 bytes) under a header one
// field shorter.
const SIGNATURE_FIELD_BYTES = 66

/**
 * verifyAttestation for an attestation just decoded from `bytes` by decodeAttestation: the signed body is
 * cut from the bytes instead of encoded again.
 */
export function verifyAttestationBytes(a: Attestation, bytes: Uint8Array): boolean {
  let key: Uint8Array
  try {
    key = publicKeyOfPeerId(a.witness)
  } catch {
    return false
  }
  // a copy: the bytes may be a Node Buffer, whose slice() is a view of the caller's message
  const body = new Uint8Array(bytes.subarray(0, bytes.length - SIGNATURE_FIELD_BYTES))
  body[0] = 0x80 | (a.background ? 15 : 13)
  return verifyEd25519(key, signingBytes(tagOf(a), a.net, body), a.signature)
}

/** Whether two attestations say the same thing (their signatures may still differ). */
export function sameClaim(a: AttestationBody, b: AttestationBody): boolean {
  return equalBytes(encodeFields(bodyFields(a)), encodeFields(bodyFields(b)))
}
