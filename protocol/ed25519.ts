import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'

// node:crypto rather than a pure-JS curve, for speed (bench/protocol.ts compares the two); it takes keys
// as DER, so raw keys get a fixed prefix.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface Ed25519Key {
  /** the 32-byte secret seed */
  seed: Uint8Array
  publicKey: Uint8Array
}

export function generateEd25519(): Ed25519Key {
  const { privateKey } = generateKeyPairSync('ed25519')
  return ed25519FromSeed(new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16)))
}

export function ed25519FromSeed(seed: Uint8Array): Ed25519Key {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed has 32 bytes')
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' })
  return { seed, publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)) }
}

const privateKeys = new WeakMap<Uint8Array, KeyObject>()
function privateKeyObject(seed: Uint8Array): KeyObject {
  let key = privateKeys.get(seed)
  if (!key) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    privateKeys.set(seed, key)
  }
  return key
}

// Verifiers see the same few witnesses and relays again and again; parsing a key costs as much as a verify.
const publicKeys = new Map<string, KeyObject>()
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('latin1')
  let key = publicKeys.get(id)
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    if (publicKeys.size >= 10_000) publicKeys.clear()
    publicKeys.set(id, key)
  }
  return key
}

export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(seed)))
}

export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    return verify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}
