import { signAttestation, type Attestation, type AttestationBody } from '../../protocol/attestation.ts'
import { assignedWitnessIndices } from '../../protocol/assignment.ts'
import type { Ed25519Key } from '../../protocol/ed25519.ts'
import { epochAt } from '../../protocol/epoch.ts'
import { peerIdFromString, peerIdOfPublicKey } from '../../protocol/peer.ts'
import { buildRegistry } from '../../protocol/registry.ts'
import { epochSeed } from '../../protocol/seed.ts'
import { testNetwork } from '../helpers/network.ts'

/**
 * The committee fixture's network with 3 witnesses (k = 2) and 3 genesis relays, in an hour-long epoch that
 * started 30 s ago (so it stays current however late the file runs), and helpers to attest in it.
 */
export function witnessNetwork(overrides: Record<string, unknown> = {}) {
  const t = testNetwork({
    label: 'witness',
    committee: 1,
    witnesses: 3,
    relays: 3,
    overrides: {
      id: 'gossip-test',
      genesis: Date.now() - 5 * 3_600_000 - 30_000,
      probe: { windowSeconds: 2, warmupSeconds: 1, timeoutSeconds: 8 },
      witnessesPerRelay: 2,
      minAttestations: 1,
      emissionPerEpoch: '1000',
      ...overrides,
    },
  })
  const network = t.network
  const witnessKeys = t.witnesses.map(w => w.key)
  const registry = buildRegistry(network, [])
  const epoch = epochAt(network, Date.now())
  const relays = network.relays.map(r => peerIdFromString(r.peerId))
  // stands in for the seeds certificates would give: one known seed for every epoch
  const seed = epochSeed(network, 0, undefined) as Uint8Array
  const seedOf = (_epoch: number): Uint8Array | undefined => seed
  /** the witnesses (as keys) assigned, and the one not assigned, to a relay in the current epoch */
  const witnessesOf = (relay: Uint8Array) => {
    const assigned = assignedWitnessIndices(seed, relay, 3, 2)
    const key = (i: number) => t.witness(network.witnesses[i] as string).key
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
