import { Registry } from 'prom-client'
import type { AttestationTopic } from '../node/network/attestation-topic.ts'
import type { RelayDirectory } from '../node/network/directory.ts'
import type { EvidenceLog } from '../node/network/evidence.ts'
import type { Host } from '../node/host/host.ts'
import { dashboardPage } from '../node/host/dashboard.ts'
import { readCounter, readGauge, type StatusSource } from '../node/host/status-server.ts'
import type { ProbeSink } from './sink.ts'
import type { Witness } from './witness.ts'

/** What `/status` and `/metrics` show for a witness. */
export function witnessStatus(
  host: Host,
  witness: Witness,
  topic: AttestationTopic,
  evidence: EvidenceLog,
  sink: ProbeSink,
  directory: RelayDirectory,
): StatusSource {
  return {
    page: dashboardPage('witness'),
    status: () => ({
      peerId: host.peerId.toString(),
      addresses: host.getMultiaddrs().map(String),
      sink: `${sink.host}:${sink.port}`,
      epoch: witness.epoch,
      seedKnown: witness.seedKnown,
      /** relays whose signed records (capacity cap, addresses) this witness holds */
      relaysKnown: directory.size,
      probes: { ...witness.counts, outcomes: witness.outcomes },
      topic: topic.counts,
      evidence: evidence.entries.length,
      recent: witness.recent,
    }),
    metrics: witnessMetrics(witness, topic, directory),
  }
}

function witnessMetrics(witness: Witness, topic: AttestationTopic, directory: RelayDirectory): Registry {
  const registry = new Registry()
  const count = (name: string, help: string, read: () => number) =>
    readCounter(registry, name, help, [], () => [[{}, read()]])
  readGauge(registry, 'weir_witness_epoch', 'The epoch the witness is planning for.', () => witness.epoch)
  readCounter(registry, 'weir_witness_probes_total', 'Probes finished, by outcome.', ['outcome'], () =>
    Object.entries(witness.outcomes).map(([outcome, n]) => [{ outcome }, n]),
  )
  readGauge(
    registry,
    'weir_witness_relays_known',
    'Relays whose signed records the witness holds.',
    () => directory.size,
  )
  count('weir_witness_probes_planned_total', 'Probes planned.', () => witness.counts.planned)
  count(
    'weir_witness_probes_skipped_total',
    'Probes not run (no helper, no time).',
    () => witness.counts.skipped,
  )
  count(
    'weir_witness_attestations_published_total',
    'Attestations published.',
    () => witness.counts.published,
  )
  readCounter(
    registry,
    'weir_attestations_validated_total',
    'Attestations judged on the topic, by verdict.',
    ['verdict'],
    () => (['accept', 'ignore', 'reject'] as const).map(verdict => [{ verdict }, topic.counts[verdict]]),
  )
  count(
    'weir_attestation_equivocations_total',
    'Equivocations stored as evidence.',
    () => topic.counts.equivocations,
  )
  return registry
}
