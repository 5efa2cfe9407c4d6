import { signAttestation, type Attestation, type AttestationBody } from '../../protocol/attestation.ts'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import { type Ed25519Key, generateEd25519 } from '../../protocol/ed25519.ts'
import { parseNetworkDefinition, type NetworkDefinition } from '../../protocol/network.ts'
import { peerIdFromString, peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { epochAt } from '../../protocol/epoch.ts'

const peerOf = (key: Ed25519Key) => peerIdToString(peerIdOfPublicKey(key.publicKey))

/** A network of 3 witnesses (k = 2) and 3 genesis relays, in an hour-long epoch that started 30 s ago (so it stays current however late the file runs). */
export function testNetwork(overrides: Record<string, unknown> = {}) {
  const witnessKeys = [generateEd25519(), generateEd25519(), generateEd25519()]
  const relayKeys = [generateEd25519(), generateEd25519(), generateEd25519()]
  const network: NetworkDefinition = parseNetworkDefinition({
    version: 1,
    id: 'gossip-test',
    genesis: Date.now() - 5 * 3_600_000 - 30_000,
    epochSeconds: 3600,
    graceSeconds: 10,
    probe: { windowSeconds: 2, warmupSeconds: 1, timeoutSeconds: 8 },
    witnessesPerRelay: 2,
    minAttestations: 1,
    witnesses: witnessKeys.map(peerOf),
    committee: [{ peerId: peerOf(generateEd25519()), signer: `0x${'11'.repeat(20)}` }],
    genesisSeed: `0x${'42'.repeat(32)}`,
    eligibilityDelay: 0,
    relays: relayKeys.map(k => ({ peerId: peerOf(k), payout: `0x${'22'.repeat(20)}` })),
    emissionPerEpoch: '1000',
    chain: { chainId: 31337 },
    ...overrides,
  })
  const keyOf = new Map(witnessKeys.map(k => [peerOf(k), k]))
  const registry = buildRegistry(network, [])
  const epoch = epochAt(network, Date.now())
  const relays = network.relays.map(r => peerIdFromString(r.peerId))
  // stands in for the seeds certificates would give: one known seed for every epoch
  const seed = epochSeed(network, 0, undefined) as Uint8Array
  const seedOf = (_epoch: number): Uint8Array | undefined => seed
  /** the witnesses (as keys) assigned, and the one not assigned, to a relay in the current epoch */
  const witnessesOf = (relay: Uint8Array) => {
    const assigned = assignedWitnessIndices(seed, relay, 3, 2)
    const key = (i: number) => keyOf.get(network.witnesses[i] as string) as Ed25519Key
    return {
      assigned: assigned.map(key),
      unassigned: key([0, 1, 2].find(i => !assigned.includes(i)) as number),
    }
  }
  const attest = (relay: Uint8Array, witness: Ed25519Key, over: Partial<AttestationBody> = {}): Attestation =>
    signAttestation(
      {
        net: network.id,
        epoch,
        relay,
        witness: peerIdOfPublicKey(witness.publicKey),
        helper: relays.find(r => r !== relay) as Uint8Array,
        startedAt: Date.now() - 10_000,
        durationMs: 4000,
        bytes: 8_000_000,
        forwardBps: 2_000_000,
        reverseBps: 2_000_000,
        rttMs: 3,
        outcome: 'ok',
        ...over,
      },
      witness.seed,
    )
  return { network, registry, epoch, relays, witnessKeys, seedOf, witnessesOf, attest }
}
