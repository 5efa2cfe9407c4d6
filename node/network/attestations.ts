import type { GossipSub } from '@libp2p/gossipsub'
import type { Attestation } from '../../protocol/attestation.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { AttestationTopic } from './attestation-topic.ts'
import { EvidenceLog } from './evidence.ts'
import { RelayRegistry } from './relay-registry.ts'
import { SeedBook } from './seeds.ts'

/**
 * Joins the attestations topic the way relays and witnesses do: learns seeds from certificates on the
 * votes topic and relays from records on the relays topic, validates every attestation, and appends
 * equivocation evidence to `evidencePath` (kept in memory only when it is undefined).
 */
export function joinAttestations(
  pubsub: GossipSub,
  network: NetworkDefinition,
  evidencePath?: string,
  onAccept?: (attestation: Attestation, bytes: Uint8Array) => void,
) {
  const seeds = new SeedBook(network)
  seeds.watch(pubsub)
  const registry = new RelayRegistry(network)
  registry.watch(pubsub)
  const evidence = new EvidenceLog(evidencePath)
  const topic = new AttestationTopic(pubsub, {
    network,
    evidence,
    seedOf: epoch => seeds.seedOf(epoch),
    registryFor: epoch => registry.registryFor(epoch),
    onAccept,
  })
  topic.start()
  return { seeds, registry, evidence, topic }
}
