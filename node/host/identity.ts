import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { concatBytes, parseHex, to0x } from '../../protocol/bytes.ts'
import { type Ed25519Key, ed25519FromSeed, generateEd25519 } from '../../protocol/ed25519.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'

export const IDENTITY_FILE = 'identity.key'

/** A node's Ed25519 identity: it names the node (PeerId) and signs its records and attestations. */
export interface Identity {
  key: Ed25519Key
  peerId: string
  peerIdBytes: Uint8Array
  /** the same key in the form libp2p takes */
  libp2pKey: PrivateKey
}

function identityOf(key: Ed25519Key): Identity {
  const peerIdBytes = peerIdOfPublicKey(key.publicKey)
  return {
    key,
    peerId: peerIdToString(peerIdBytes),
    peerIdBytes,
    libp2pKey: privateKeyFromRaw(concatBytes(key.seed, key.publicKey)),
  }
}

/** Writes a secret with mode 0600 from the start (and again, in case the file already existed). */
export function writeSecretFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
}

function readSecretFile(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`${path}: no ${what} here (create one with 'weir init')`)
  const mode = statSync(path).mode & 0o777
  if (mode & 0o077)
    throw new Error(`${path}: ${what} is readable by others (mode ${mode.toString(8)}); run chmod 600`)
  return readFileSync(path, 'utf8')
}

export function createIdentity(dir: string, key: Ed25519Key = generateEd25519()): Identity {
  const identity = identityOf(key)
  const body = { type: 'ed25519', peerId: identity.peerId, seed: to0x(key.seed) }
  writeSecretFile(join(dir, IDENTITY_FILE), `${JSON.stringify(body, null, 2)}\n`)
  return identity
}

export function loadIdentity(dir: string): Identity {
  const path = join(dir, IDENTITY_FILE)
  const text = readSecretFile(path, 'identity key')
  let seed: Uint8Array | undefined
  try {
    const body = JSON.parse(text)
    if (body.type === 'ed25519' && typeof body.seed === 'string') seed = parseHex(body.seed, 32)
  } catch {}
  if (!seed) throw new Error(`${path}: expected JSON {"type":"ed25519","seed":"0x<64 hex digits>"}`)
  return identityOf(ed25519FromSeed(seed))
}

/** A secp256k1 secret key file: one line, 0x and 64 hex digits (the form Anvil and most EVM tools print). */
export function loadSecp256k1Key(path: string): Uint8Array {
  const text = readSecretFile(path, 'secp256k1 key').trim()
  const key = parseHex(text, 32)
  if (!key || !text.startsWith('0x') || !secp256k1.utils.isValidSecretKey(key)) {
    throw new Error(`${path}: expected a secp256k1 secret key as 0x and 64 hex digits`)
  }
  return key
}

export function createSecp256k1Key(path: string, key = secp256k1.utils.randomSecretKey()): Uint8Array {
  writeSecretFile(path, `${to0x(key)}\n`)
  return key
}
