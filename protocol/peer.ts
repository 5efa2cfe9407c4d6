import { base58btc } from 'multiformats/bases/base58'
import { DecodeError } from './errors.ts'

// An Ed25519 PeerId is the identity multihash of the protobuf-encoded public key:
// 0x00 (identity) 0x24 (36 bytes) 0x08 0x01 (KeyType Ed25519) 0x12 0x20 (32-byte Data) <key>.
const PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
export const PEER_ID_BYTES = PREFIX.length + 32

export function peerIdOfPublicKey(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new RangeError('an Ed25519 public key has 32 bytes')
  const out = new Uint8Array(PEER_ID_BYTES)
  out.set(PREFIX)
  out.set(publicKey, PREFIX.length)
  return out
}

export function isPeerIdBytes(bytes: Uint8Array): boolean {
  return bytes.length === PEER_ID_BYTES && PREFIX.every((b, i) => bytes[i] === b)
}

/** The Ed25519 public key a PeerId embeds; throws DecodeError for any other kind of PeerId. */
export function publicKeyOfPeerId(peerId: Uint8Array): Uint8Array {
  if (!isPeerIdBytes(peerId)) throw new DecodeError('field', 'not an Ed25519 PeerId')
  return peerId.subarray(PREFIX.length)
}

/** The familiar `12D3KooW…` text form (base58btc without multibase prefix). */
export function peerIdToString(peerId: Uint8Array): string {
  return base58btc.baseEncode(peerId)
}

export function peerIdFromString(text: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(text)
  } catch {
    throw new DecodeError('field', `'${text.slice(0, 60)}' is not a base58 PeerId`)
  }
  if (!isPeerIdBytes(bytes)) throw new DecodeError('field', `'${text.slice(0, 60)}' is not an Ed25519 PeerId`)
  return bytes
}
