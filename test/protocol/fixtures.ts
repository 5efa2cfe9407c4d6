import { type Attestation, type AttestationBody, signAttestation } from '../../protocol/attestation.ts'
import { utf8 } from '../../protocol/bytes.ts'
import { sha256 } from '../../protocol/hash.ts'
import { type NetworkDefinition, parseNetworkDefinition } from '../../protocol/network.ts'
import { type RelayRecord, signRelayRecord } from '../../protocol/record.ts'
import { address, member, type Party, party } from '../helpers/network.ts'

// A small network shared by the protocol tests, built from the committee fixture's deterministic keys.

export { address, type Party, party }

export const witnesses = Array.from({ length: 7 }, (_, i) => party(`witness-${i}`))
export const members = Array.from({ length: 4 }, (_, i) => member(`member-${i}`))

/** The JSON of a valid network definition; tests mutate copies of it. */
export function exampleJson(): Record<string, unknown> {
  return {
    version: 1,
    id: 'testnet-1',
    genesis: 1_700_000_000_000,
    epochSeconds: 600,
    graceSeconds: 60,
    probe: { windowSeconds: 10, warmupSeconds: 2, timeoutSeconds: 30 },
    witnessesPerRelay: 3,
    minAttestations: 2,
    witnesses: witnesses.map(w => w.text),
    committee: members.map(m => ({ peerId: m.party.text, signer: m.signer })),
    quorum: 3,
    genesisSeed: `0x${'ab'.repeat(32)}`,
    eligibilityDelay: 3,
    relays: [{ peerId: party('genesis-relay').text, payout: address('genesis-relay') }],
    emissionPerEpoch: '1000000000000000000000',
    chain: { chainId: 31337, rewards: '0x5fbdb2315678afecb367f032d93f642f64180aa3' },
    bootstrap: ['/ip4/127.0.0.1/tcp/4001'],
  }
}

export const network: NetworkDefinition = parseNetworkDefinition(exampleJson())

/** A witness's attestation of `relay`, with defaults for every other field. */
export function attest(
  witness: Party,
  relay: Uint8Array,
  overrides: Partial<AttestationBody> = {},
): Attestation {
  return signAttestation(
    {
      net: network.id,
      epoch: 5,
      relay,
      witness: witness.peerId,
      helper: party('helper').peerId,
      startedAt: network.genesis + 5 * 600_000 + 1000,
      durationMs: 20_000,
      bytes: 123_456_789,
      forwardBps: 5_000_000,
      reverseBps: 4_000_000,
      rttMs: 42,
      outcome: 'ok',
      ...overrides,
    },
    witness.key.seed,
  )
}

export function record(relay: Party, overrides: Partial<Omit<RelayRecord, 'signature'>> = {}): RelayRecord {
  return signRelayRecord(
    {
      net: network.id,
      relay: relay.peerId,
      epoch: 1,
      seq: 1,
      addrs: ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002/ws'],
      payout: sha256(utf8(`weir-test/payout/${relay.text}`)).subarray(0, 20),
      maxBandwidthBps: 0,
      ...overrides,
    },
    relay.key.seed,
  )
}
