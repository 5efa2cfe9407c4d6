import { sha256 } from './hash.ts'
import { bytesField, decodeFields, encodeFields, signingBytes, text, uint } from './codec.ts'
import { signEd25519, verifyEd25519 } from './ed25519.ts'
import { DecodeError } from './errors.ts'
import { PEER_ID_BYTES, publicKeyOfPeerId } from './peer.ts'
import { utf8 } from './bytes.ts'

export const RELAY_RECORD_TAG = 'weir/relay-record/v1'
export const MAX_RELAY_RECORD_BYTES = 4096
const MAX_ADDRS = 16
const MAX_ADDR_LENGTH = 256

/** What a relay says about itself: where to reach it, where to pay it, what it caps itself at. */
export interface RelayRecordBody {
  net: string
  /** PeerId bytes of the relay (its Ed25519 key signs the record) */
  relay: Uint8Array
  /** the epoch the record was published in */
  epoch: number
  /** strictly increasing per relay; the highest wins */
  seq: number
  addrs: string[]
  /** 20-byte EVM address rewards are paid to */
  payout: Uint8Array
  /** the operator's bandwidth cap in bytes/s, 0 when uncapped (informational: never trusted for rewards) */
  maxBandwidthBps: number
}

export interface RelayRecord extends RelayRecordBody {
  signature: Uint8Array
}

function bodyFields(r: RelayRecordBody) {
  return [1, r.net, r.relay, r.epoch, r.seq, r.addrs, r.payout, r.maxBandwidthBps]
}

export function signRelayRecord(body: RelayRecordBody, seed: Uint8Array): RelayRecord {
  const signature = signEd25519(
    seed,
    signingBytes(RELAY_RECORD_TAG, body.net, encodeFields(bodyFields(body))),
  )
  return { ...body, signature }
}

export function encodeRelayRecord(record: RelayRecord): Uint8Array {
  return encodeFields([...bodyFields(record), record.signature])
}

/** Strictly decodes a relay record; throws DecodeError. Does not check the signature. */
export function decodeRelayRecord(bytes: Uint8Array): RelayRecord {
  const f = decodeFields(bytes, MAX_RELAY_RECORD_BYTES, 9, 'relay record')
  const addrs = f[5]
  if (!Array.isArray(addrs) || addrs.length > MAX_ADDRS) {
    throw new DecodeError('field', `addrs: expected an array of at most ${MAX_ADDRS} multiaddrs`)
  }
  return {
    net: text(f[1], 'net', 32),
    relay: bytesField(f[2], 'relay', PEER_ID_BYTES),
    epoch: uint(f[3], 'epoch', 2 ** 32),
    seq: uint(f[4], 'seq'),
    addrs: addrs.map((a, i) => text(a, `addrs[${i}]`, MAX_ADDR_LENGTH)),
    payout: bytesField(f[6], 'payout', 20),
    maxBandwidthBps: uint(f[7], 'maxBandwidthBps'),
    signature: bytesField(f[8], 'signature', 64),
  }
}

export function verifyRelayRecord(record: RelayRecord): boolean {
  let key: Uint8Array
  try {
    key = publicKeyOfPeerId(record.relay)
  } catch {
    return false
  }
  return verifyEd25519(
    key,
    signingBytes(RELAY_RECORD_TAG, record.net, encodeFields(bodyFields(record))),
    record.signature,
  )
}

const ITEM_TAGS = {
  attestation: utf8('weir/attestation\0'),
  'relay-record': utf8('weir/relay-record\0'),
}

/** A content item's id: sha256 over its kind and canonical bytes. */
export function itemId(kind: 'attestation' | 'relay-record', bytes: Uint8Array): Uint8Array {
  return sha256(ITEM_TAGS[kind], bytes)
}
