import { sha256 } from './hash.ts'
import { bytesField, decodeVersionedFields, encodeFields, signingBytes, text, uint } from './codec.ts'
import { signEd25519, verifyEd25519 } from './ed25519.ts'
import { DecodeError } from './errors.ts'
import { PEER_ID_BYTES, publicKeyOfPeerId } from './peer.ts'
import { utf8 } from './bytes.ts'

export const RELAY_RECORD_TAG = 'weir/relay-record/v1'
/** Version 2 records add the exit policy; version 1 records stay valid (and mean nothing about exits). */
export const RELAY_RECORD_V2_TAG = 'weir/relay-record/v2'
export const MAX_RELAY_RECORD_BYTES = 4096
const MAX_ADDRS = 16
const MAX_ADDR_LENGTH = 256
export const MAX_EXIT_PORT_RANGES = 64

/**
 * Where a relay lets tunnels exit: the address families it connects to and its allowed destination
 * ports, as ranges (inclusive) in ascending order, neither overlapping nor touching. Advertised so clients
 * never choose it for a destination it would refuse; the relay's own exit policy still decides.
 */
export interface ExitSummary {
  ipv4: boolean
  ipv6: boolean
  ports: readonly (readonly [number, number])[]
}

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
  /** the exit policy (version 2 records); absent in version 1 records */
  exits?: ExitSummary
}

export interface RelayRecord extends RelayRecordBody {
  signature: Uint8Array
}

function bodyFields(r: RelayRecordBody) {
  const v1 = [r.net, r.relay, r.epoch, r.seq, r.addrs, r.payout, r.maxBandwidthBps]
  if (r.exits === undefined) return [1, ...v1]
  const families = (r.exits.ipv4 ? 1 : 0) | (r.exits.ipv6 ? 2 : 0)
  return [2, ...v1, [families, r.exits.ports.map(([from, to]) => [from, to])]]
}

const tagOf = (r: RelayRecordBody) => (r.exits === undefined ? RELAY_RECORD_TAG : RELAY_RECORD_V2_TAG)

export function signRelayRecord(body: RelayRecordBody, seed: Uint8Array): RelayRecord {
  if (body.exits !== undefined) checkExits(body.exits)
  const signature = signEd25519(seed, signingBytes(tagOf(body), body.net, encodeFields(bodyFields(body))))
  return { ...body, signature }
}

export function encodeRelayRecord(record: RelayRecord): Uint8Array {
  return encodeFields([...bodyFields(record), record.signature])
}

/** Strictly decodes a relay record of version 1 or 2; throws DecodeError. Does not check the signature. */
export function decodeRelayRecord(bytes: Uint8Array): RelayRecord {
  const f = decodeVersionedFields(bytes, MAX_RELAY_RECORD_BYTES, { 1: 9, 2: 10 }, 'relay record')
  const addrs = f[5]
  if (!Array.isArray(addrs) || addrs.length > MAX_ADDRS) {
    throw new DecodeError('field', `addrs: expected an array of at most ${MAX_ADDRS} multiaddrs`)
  }
  const record: RelayRecord = {
    net: text(f[1], 'net', 32),
    relay: bytesField(f[2], 'relay', PEER_ID_BYTES),
    epoch: uint(f[3], 'epoch', 2 ** 32),
    seq: uint(f[4], 'seq'),
    addrs: addrs.map((a, i) => text(a, `addrs[${i}]`, MAX_ADDR_LENGTH)),
    payout: bytesField(f[6], 'payout', 20),
    maxBandwidthBps: uint(f[7], 'maxBandwidthBps'),
    signature: bytesField(f[f.length - 1], 'signature', 64),
  }
  if (f[0] === 2) record.exits = decodeExits(f[8])
  return record
}

/** `[families, [[from, to], ...]]`: families 1 (IPv4), 2 (IPv6) or 3 (both); ranges as ExitSummary says. */
function decodeExits(value: unknown): ExitSummary {
  if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[1]))
    throw new DecodeError('field', 'exits: expected [families, port ranges]')
  const families = uint(value[0], 'exits families', 3)
  const ports = value[1].map((range, i): [number, number] => {
    if (!Array.isArray(range) || range.length !== 2)
      throw new DecodeError('field', `exits ports[${i}]: expected [from, to]`)
    return [uint(range[0], `exits ports[${i}] from`, 65535), uint(range[1], `exits ports[${i}] to`, 65535)]
  })
  const exits = { ipv4: (families & 1) !== 0, ipv6: (families & 2) !== 0, ports }
  try {
    checkExits(exits)
  } catch (err) {
    throw new DecodeError('field', (err as Error).message)
  }
  return exits
}

/** Throws RangeError unless the summary allows a family and is in its one canonical form. */
function checkExits(exits: ExitSummary): void {
  if (!exits.ipv4 && !exits.ipv6) throw new RangeError('exits: expected IPv4, IPv6 or both')
  if (exits.ports.length === 0 || exits.ports.length > MAX_EXIT_PORT_RANGES)
    throw new RangeError(`exits: expected 1 to ${MAX_EXIT_PORT_RANGES} port ranges`)
  let after = 0
  for (const [from, to] of exits.ports) {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || from > to || to > 65535)
      throw new RangeError(`exits: port range ${from}-${to} is not within 1-65535`)
    if (from <= after + 1 && after > 0)
      throw new RangeError('exits: port ranges must ascend without overlapping or touching')
    after = to
  }
}

/** Whether a relay's advertised exits allow `port` (and the family, when the target is an address). */
export function exitAllows(exits: ExitSummary, port: number, family: 4 | 6 | undefined): boolean {
  if (family === 4 && !exits.ipv4) return false
  if (family === 6 && !exits.ipv6) return false
  return exits.ports.some(([from, to]) => from <= port && port <= to)
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
    signingBytes(tagOf(record), record.net, encodeFields(bodyFields(record))),
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
