import type { Registry } from 'prom-client'
import { dashboardPage } from '../host/dashboard.ts'
import type { Logger } from '../host/log.ts'
import type { StatusSource } from '../host/status-server.ts'
import { ThroughputHistory } from '../host/throughput.ts'
import type { LedgerEarnings } from './earnings.ts'
import type { Relay } from './relay.ts'

/**
 * A relay's status listener with its dashboard: the relay's status plus what the page draws (throughput
 * over the last ten minutes, the latest problems, earnings when a ledger is configured).
 */
export class RelayDashboard implements StatusSource {
  readonly page = dashboardPage('relay')
  private readonly throughput: ThroughputHistory

  constructor(
    private readonly relay: Relay,
    private readonly options: { log?: Logger; earnings?: LedgerEarnings } = {},
  ) {
    this.throughput = new ThroughputHistory(() => relay.meter.total)
  }

  start(): void {
    this.throughput.start()
    this.options.earnings?.start()
  }

  stop(): void {
    this.throughput.stop()
    this.options.earnings?.stop()
  }

  status() {
    return {
      ...this.relay.status(),
      throughput: this.throughput.list(),
      errors: this.options.log?.recent() ?? [],
      earnings: this.options.earnings?.current() ?? null,
    }
  }

  get metrics(): Registry {
    return this.relay.metrics
  }
}
