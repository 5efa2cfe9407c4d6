import { to0x, utf8 } from '../../protocol/bytes.ts'
import { type Ed25519Key, ed25519FromSeed } from '../../protocol/ed25519.ts'
import { sha256 } from '../../protocol/hash.ts'
import { type Address, type NetworkDefinition, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'

// The committee fixture: keys for witnesses, committee members (with the secp256k1 keys they sign votes
// with) and genesis relays, and a network definition naming them. Every key derives from a label, so a
// test fails the same way every run; tests that run processes side by side pass a label of their own.

/** An Ed25519 identity: a witness's, relay's or member's libp2p key and the PeerId it gives. */
export interface Party {
  key: Ed25519Key
  peerId: Uint8Array
  /** the PeerId as text (12D3KooW…) */
  text: string
}

/** A committee member: its libp2p identity and the key it signs votes with. */
export interface Member {
  party: Party
  signerKey: Uint8Array
  signer: Address
}

export interface Relay extends Party {
  payout: Address
}

export function party(label: string): Party {
  const key = ed25519FromSeed(sha256(utf8(`weir-test/${label}`)))
  const peerId = peerIdOfPublicKey(key.publicKey)
  return { key, peerId, text: peerIdToString(peerId) }
}

export const secpKey = (label: string): Uint8Array => sha256(utf8(`weir-test/secp256k1/${label}`))

export const address = (label: string): Address =>
  to0x(sha256(utf8(`weir-test/address/${label}`)).subarray(0, 20))

export function member(label: string): Member {
  const signerKey = secpKey(label)
  return { party: party(label), signerKey, signer: addressOfSecretKey(signerKey) }
}

export interface TestNetworkOptions {
  /** keys derive from it; the default gives the keys the protocol tests use */
  label?: string
  committee?: number
  witnesses?: number
  relays?: number
  /** fields of the network definition to set instead of the defaults */
  overrides?: Record<string, unknown>
}

export interface TestNetwork {
  network: NetworkDefinition
  /** the definition's JSON, for tests that vary it */
  json: Record<string, unknown>
  members: Member[]
  witnesses: Party[]
  relays: Relay[]
  /** a witness by its PeerId text (the definition lists witnesses in byte order, not in creation order) */
  witness(text: string): Party
}

/**
 * A network of 4 members (quorum 3), 4 witnesses (k = 3) and 3 genesis relays, in hour-long epochs of
 * which the current one started 30 s ago: no boundary falls inside a test unless it sets its own genesis.
 */
export function testNetwork(o: TestNetworkOptions = {}): TestNetwork {
  const at = (name: string) => (o.label ? `${o.label}/${name}` : name)
  const members = Array.from({ length: o.committee ?? 4 }, (_, i) => member(at(`member-${i}`)))
  const witnesses = Array.from({ length: o.witnesses ?? 4 }, (_, i) => party(at(`witness-${i}`)))
  const relays = Array.from({ length: o.relays ?? 3 }, (_, i) => ({
    ...party(at(`relay-${i}`)),
    payout: address(at(`relay-${i}`)),
  }))
  const json: Record<string, unknown> = {
    version: 1,
    id: 'test-net',
    genesis: Date.now() - 30_000,
    epochSeconds: 3600,
    graceSeconds: 10,
    probe: { windowSeconds: 5, warmupSeconds: 1, timeoutSeconds: 20 },
    witnessesPerRelay: Math.min(3, witnesses.length),
    minAttestations: Math.min(2, witnesses.length),
    witnesses: witnesses.map(w => w.text),
    committee: members.map(m => ({ peerId: m.party.text, signer: m.signer })),
    genesisSeed: to0x(sha256(utf8(`weir-test/genesis-seed/${o.label ?? ''}`))),
    eligibilityDelay: 0,
    relays: relays.map(r => ({ peerId: r.text, payout: r.payout })),
    emissionPerEpoch: '1000000000000000000000',
    chain: { chainId: 31337 },
    bootstrap: [],
    local: true,
    ...o.overrides,
  }
  const byText = new Map(witnesses.map(w => [w.text, w]))
  return {
    network: parseNetworkDefinition(json),
    json,
    members,
    witnesses,
    relays,
    witness: text => {
      const w = byText.get(text)
      if (!w) throw new Error(`no witness ${text} in this test network`)
      return w
    },
  }
}
