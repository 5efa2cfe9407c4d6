import { Counter, Gauge, Registry } from 'prom-client'

/**
 * A ledger member's Prometheus metrics (docs/ledger.md lists them), in a registry of its own: several
 * members in one process never share a counter.
 */
export class Metrics {
  readonly registry = new Registry()

  private counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) {
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] })
  }

  readonly ingest = this.counter('weir_ledger_ingest_total', 'items offered to the ledger, by outcome', [
    'kind',
    'source',
    'outcome',
  ])
  readonly commits = this.counter('weir_ledger_commits_total', 'ingest transactions committed')
  readonly equivocations = this.counter(
    'weir_ledger_equivocations_total',
    'equivocating attestation pairs stored as evidence',
  )
  readonly votes = this.counter('weir_ledger_votes_total', 'distinct votes stored')
  readonly voteEquivocations = this.counter(
    'weir_ledger_vote_equivocations_total',
    'members seen voting for two roots in one epoch',
  )
  readonly conflictingCertificates = this.counter(
    'weir_ledger_conflicting_certificates_total',
    'valid certificates for a second root',
  )
  readonly certificates = this.counter('weir_ledger_certificates_total', 'certificates stored')
  readonly votesSigned = this.counter('weir_ledger_votes_signed_total', 'votes this member signed')
  readonly tallyMismatches = this.counter(
    'weir_ledger_tally_mismatch_total',
    'certified epochs whose content we do not hold yet',
  )
  readonly itemsExcluded = this.counter(
    'weir_ledger_items_excluded_total',
    'items held beyond the certified content of their epoch, left out',
  )
  readonly syncFailures = this.counter('weir_ledger_sync_failures_total', 'reconciliations that failed')
  readonly syncBytes = this.counter('weir_ledger_sync_bytes_total', 'bytes exchanged by anti-entropy')
  readonly syncItems = this.counter('weir_ledger_sync_items_total', 'bodies fetched by anti-entropy')
  readonly voteMessages = this.counter('weir_ledger_vote_messages_total', 'messages on the votes topic', [
    'verdict',
  ])
  readonly publishErrors = this.counter('weir_ledger_publish_errors_total', 'failed publishes', ['error'])
  readonly apiRequests = this.counter('weir_ledger_api_requests_total', 'API requests by status', ['status'])

  /** A gauge read when scraped. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read())
      },
    })
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics()
  }
}
