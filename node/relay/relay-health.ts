import type { Attestation } from '../../protocol/attestation.ts'
import { graceEnd, epochAt } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { isEligible, type Registry, relayKey } from '../../protocol/registry.ts'
import type { Logger } from '../host/log.ts'

export interface ProbeWatchOptions {
  network: NetworkDefinition
  /** this relay's PeerId bytes */
  relay: Uint8Array
  /** the registry as this relay has gathered it */
  registryFor: (epoch: number) => Registry
  /** whether this relay knows the epoch's seed: without it, it cannot check the epoch's attestations */
  seedKnown: (epoch: number) => boolean
  log: Logger
  now?: () => number
}

/**
 * Watches the attestations topic for this relay's own attestations: at the end of each epoch's grace
 * window, an epoch it was eligible in with none (or none that measured it) is a problem the operator
 * hears of, once until witnesses measure it again.
 */
export class ProbeWatch {
  private readonly outcomes = new Map<number, string[]>()
  private readonly key: string
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined
  private checked: number

  constructor(private readonly o: ProbeWatchOptions) {
    this.key = relayKey(o.relay)
    this.now = o.now ?? Date.now
    // epochs that ended before this relay started are not its business
    this.checked = epochAt(o.network, this.now())
  }

  /** Every attestation the topic accepted. */
  note(a: Attestation): void {
    if (relayKey(a.relay) !== this.key) return
    const list = this.outcomes.get(a.epoch) ?? []
    list.push(a.outcome)
    this.outcomes.set(a.epoch, list)
  }

  start(): void {
    this.schedule()
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  private schedule(): void {
    const next = this.checked + 1
    this.timer = setTimeout(
      () => {
        this.check(next)
        this.checked = next
        this.schedule()
      },
      Math.max(0, graceEnd(this.o.network, next) - this.now()),
    )
    this.timer.unref()
  }

  /** Judges `epoch`, whose grace window is over. */
  check(epoch: number): void {
    const { network, log } = this.o
    const outcomes = this.outcomes.get(epoch) ?? []
    this.outcomes.delete(epoch)
    const eligible = isEligible(this.o.registryFor(epoch).get(this.key), epoch, network.eligibilityDelay)
    if (!eligible || !this.o.seedKnown(epoch)) {
      log.debug('probe check skipped: not eligible, or the seed is unknown', { epoch, eligible })
      return
    }
    if (outcomes.includes('ok')) {
      log.resolved('probe', 'witnesses measure this relay again', { epoch })
      return
    }
    const remedy =
      'witnesses must be able to dial this relay (a dialable address, its port open) and exit through it ' +
      "to their probe sinks (don't narrow exit-ports or exit-dns beyond what probes need); see docs/witness.md"
    if (outcomes.length === 0)
      log.problem('probe', 'no probe this epoch: no witness attested to this relay', remedy, { epoch })
    else
      log.problem('probe', 'no probe this epoch measured this relay: witnesses attested failures', remedy, {
        epoch,
        outcomes: [...new Set(outcomes)].join(','),
      })
  }
}
