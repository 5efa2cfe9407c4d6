import { multiaddr } from '@multiformats/multiaddr'
import type { Attestation } from '../../protocol/attestation.ts'
import { graceEnd, epochAt } from '../../protocol/epoch.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { isEligible, type Registry, relayKey } from '../../protocol/registry.ts'
import type { Host } from '../host/host.ts'
import type { Logger } from '../host/log.ts'
import { classifyAddress, parseIp } from './exit-policy.ts'
import { ipOfMultiaddr } from './own-addresses.ts'

/** How far an address reaches: this machine, a private network, the Internet. */
type Reach = 0 | 1 | 2

function reachOf(ip: string): Reach | undefined {
  const parsed = parseIp(ip)
  if (parsed === undefined) return undefined
  const kind = classifyAddress(parsed)
  return kind === 'loopback' ? 0 : kind === 'public' ? 2 : kind === 'unspecified' ? undefined : 1
}

/**
 * Whether the network's peers can dial this relay: it needs an address that reaches as far as its
 * bootstrap peers are (a testnet on 127.0.0.1 dials loopback; a network of public peers needs a public
 * address). Told on the log once, with what to do, and again once it clears.
 */
export function watchDialable(host: Host, bootstrap: readonly string[], log: Logger): () => void {
  const needed = Math.max(
    0,
    ...bootstrap.flatMap(a => {
      const ip = ipOfMultiaddr(multiaddr(a))
      return ip === undefined ? [] : (reachOf(ip) ?? [])
    }),
  )
  const check = () => {
    const addresses = host.getMultiaddrs()
    const reach = addresses.flatMap(a => {
      const ip = ipOfMultiaddr(a)
      // a DNS name is the operator's statement that it resolves to something dialable
      return ip === undefined ? [2] : (reachOf(ip) ?? [])
    })
    if (reach.some(r => r >= needed)) {
      log.resolved('dialable', 'this relay has a dialable address again', { addresses: addresses.length })
      return
    }
    log.problem(
      'dialable',
      addresses.length === 0
        ? 'no dialable address: the relay listens nowhere'
        : `no dialable address: the relay listens only on ${needed === 2 ? 'loopback or private' : 'loopback'} addresses, which the network's peers cannot reach`,
      needed === 2
        ? 'listen on a public address (--listen /ip4/0.0.0.0/tcp/4001) and forward that TCP port on the router to this machine'
        : 'listen on an address the network can reach, e.g. --listen /ip4/0.0.0.0/tcp/4001',
      { addresses: addresses.map(String).join(' ') },
    )
  }
  check()
  host.addEventListener('self:peer:update', check)
  return () => host.removeEventListener('self:peer:update', check)
}

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
