import { equalBytes } from './bytes.ts'
import { bytesField, decodeFields, encodeFields, signingBytes, text, uint } from './codec.ts'
import { signEd25519, verifyEd25519 } from './ed25519.ts'
import { PEER_ID_BYTES, publicKeyOfPeerId } from './peer.ts'

export const ATTESTATION_TAG = 'weir/attestation/v1'
export const MAX_ATTESTATION_BYTES = 512

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
}

export interface Attestation extends AttestationBody {
  signature: Uint8Array
}

function bodyFields(a: AttestationBody) {
  return [
    1,
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
    a.rttMs,
    OUTCOMES.indexOf(a.outcome),
  ]
}

export function signAttestation(body: AttestationBody, seed: Uint8Array): Attestation {
  const signature = signEd25519(seed, signingBytes(ATTESTATION_TAG, body.net, encodeFields(bodyFields(body))))
  return { ...body, signature }
}

export function encodeAttestation(a: Attestation): Uint8Array {
  return encodeFields([...bodyFields(a), a.signature])
}

/** Strictly decodes an attestation; throws DecodeError. Does not check the signature. */
export function decodeAttestation(bytes: Uint8Array): Attestation {
  const f = decodeFields(bytes, MAX_ATTESTATION_BYTES, 14, 'attestation')
  return {
    net: text(f[1], 'net', 32),
    epoch: uint(f[2], 'epoch', 2 ** 32),
    relay: bytesField(f[3], 'relay', PEER_ID_BYTES),
    witness: bytesField(f[4], 'witness', PEER_ID_BYTES),
    helper: bytesField(f[5], 'helper', PEER_ID_BYTES),
    startedAt: uint(f[6], 'startedAt'),
    durationMs: uint(f[7], 'durationMs', 2 ** 32),
    bytes: uint(f[8], 'bytes'),
    forwardBps: uint(f[9], 'forwardBps'),
    reverseBps: uint(f[10], 'reverseBps'),
    rttMs: uint(f[11], 'rttMs', 2 ** 32),
    outcome: OUTCOMES[uint(f[12], 'outcome', OUTCOMES.length - 1)] as Outcome,
    signature: bytesField(f[13], 'signature', 64),
  }
}

export function verifyAttestation(a: Attestation): boolean {
  let key: Uint8Array
  try {
    key = publicKeyOfPeerId(a.witness)
  } catch {
    return false
  }
  return verifyEd25519(key, signingBytes(ATTESTATION_TAG, a.net, encodeFields(bodyFields(a))), a.signature)
}

/** The capacity a probe shows for relaying: the slower direction; failed probes count as 0. */
export function capacityOf(a: AttestationBody): number {
  return a.outcome === 'ok' ? Math.min(a.forwardBps, a.reverseBps) : 0
}

// A strictly decoded attestation's bytes are the canonical encoding of its 14 fields, so the signed body
// (the first 13) is those bytes minus the signature field (0x58 0x40 and 64 bytes) under a 13-field header.
const SIGNATURE_FIELD_BYTES = 66
const BODY_HEADER = 0x80 | 13

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
  body[0] = BODY_HEADER
  return verifyEd25519(key, signingBytes(ATTESTATION_TAG, a.net, body), a.signature)
}

/** Whether two attestations say the same thing (their signatures may still differ). */
export function sameClaim(a: AttestationBody, b: AttestationBody): boolean {
  return equalBytes(encodeFields(bodyFields(a)), encodeFields(bodyFields(b)))
}
