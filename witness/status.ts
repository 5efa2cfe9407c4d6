import type { AttestationTopic } from '../node/network/attestation-topic.ts'
import type { RelayDirectory } from '../node/network/directory.ts'
import type { EvidenceLog } from '../node/network/evidence.ts'
import type { Host } from '../node/host/host.ts'
import { dashboardPage } from '../node/host/dashboard.ts'
import { metric, type StatusSource } from '../node/host/status-server.ts'
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
    metrics: () =>
      [
        metric('weir_witness_epoch', 'gauge', 'The epoch the witness is planning for.', [
          [{}, witness.epoch],
        ]),
        metric(
          'weir_witness_probes_total',
          'counter',
          'Probes finished, by outcome.',
          Object.entries(witness.outcomes).map(([outcome, n]) => [{ outcome }, n]),
        ),
        metric('weir_witness_relays_known', 'gauge', 'Relays whose signed records the witness holds.', [
          [{}, directory.size],
        ]),
        metric('weir_witness_probes_planned_total', 'counter', 'Probes planned.', [
          [{}, witness.counts.planned],
        ]),
        metric('weir_witness_probes_skipped_total', 'counter', 'Probes not run (no helper, no time).', [
          [{}, witness.counts.skipped],
        ]),
        metric('weir_witness_attestations_published_total', 'counter', 'Attestations published.', [
          [{}, witness.counts.published],
        ]),
        metric(
          'weir_attestations_validated_total',
          'counter',
          'Attestations judged on the topic, by verdict.',
          (['accept', 'ignore', 'reject'] as const).map(v => [{ verdict: v }, topic.counts[v]]),
        ),
        metric('weir_attestation_equivocations_total', 'counter', 'Equivocations stored as evidence.', [
          [{}, topic.counts.equivocations],
        ]),
      ].join(''),
  }
}
