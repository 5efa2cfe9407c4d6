import { isIPv4, isIPv6 } from 'node:net'
import type { Multiaddr } from '@multiformats/multiaddr'

// Co-location: identities reached at one address are one machine to a witness, which probes them at the
// same time so that their readings add up to what the machine carries (docs/witness.md). The address is
// the one the witness's own connection reached, never one a record names.

/** Learns the machine each of `relays` is reached at; leaves out those it could not reach. */
export type Locate = (relays: readonly string[], signal: AbortSignal) => Promise<Map<string, string>>

/** At most this many identities of one machine are probed at once (the rest are a known residual). */
export const MAX_MACHINE_IDENTITIES = 16

/** The machine an IP address stands for: an IPv4 address itself, an IPv6 address its /64. */
export function machineOfIp(ip: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1]
  if (mapped !== undefined || isIPv4(ip)) return `ip4/${mapped ?? ip}`
  if (!isIPv6(ip)) return undefined
  const [head = '', tail = ''] = ip.toLowerCase().split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `ip6/${groups
    .slice(0, 4)
    .map(g => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/**
 * The machine of a connection's remote address; undefined for anything but an IP address. A hole-punched
 * connection's address starts with the relay that carried its signalling, not the peer's machine.
 */
export function machineOfAddress(address: Multiaddr): string | undefined {
  const components = address.getComponents()
  if (components.some(c => c.name === 'p2p-circuit')) return undefined
  const first = components[0]
  return (first?.name === 'ip4' || first?.name === 'ip6') && first.value !== undefined
    ? machineOfIp(first.value)
    : undefined
}

/**
 * The identities probed together with `target`: every relay of `candidates` on its machine, `target`
 * and the relays in `first` (those the witness attests) before the others; at most
 * MAX_MACHINE_IDENTITIES unless `first` needs more. Just `target` when its machine is unknown.
 */
export function machineOf(
  target: string,
  machines: ReadonlyMap<string, string>,
  candidates: readonly string[],
  first: (peerId: string) => boolean,
  random: () => number,
): string[] {
  const machine = machines.get(target)
  if (machine === undefined) return [target]
  const others = candidates.filter(p => p !== target && machines.get(p) === machine)
  const attested = others.filter(first)
  const rest = others.filter(p => !first(p))
  // a random subset of the rest, so that the identities left out are not always the same ones
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[rest[i], rest[j]] = [rest[j] as string, rest[i] as string]
  }
  const room = Math.max(0, MAX_MACHINE_IDENTITIES - 1 - attested.length)
  return [target, ...attested, ...rest.slice(0, room)]
}

/** One party of the probes that run together. */
export interface Party {
  /** Resolves once every party still running has arrived at `phase`; rejects if `signal` aborts first. */
  arrive(phase: string, signal: AbortSignal): Promise<void>
  /** This party arrives nowhere any more (it failed or ended): nobody waits for it. */
  leave(): void
}

/**
 * A barrier for the probes of one machine: each probe waits, with its circuits open, until the others
 * have theirs open too, before each window, so the windows run at the same time.
 */
export class Together {
  private readonly phases = new Map<
    string,
    { count: number; gone: number; open: PromiseWithResolvers<void> }
  >()
  private left = 0

  constructor(private readonly parties: number) {}

  party(): Party {
    const reached = new Set<string>()
    let gone = false
    return {
      arrive: async (name, signal) => {
        const phase = this.phase(name)
        reached.add(name)
        phase.count++
        this.check(phase)
        signal.throwIfAborted()
        const aborted = new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        )
        aborted.catch(() => {})
        await Promise.race([phase.open.promise, aborted])
      },
      leave: () => {
        if (gone) return
        gone = true
        this.left++
        for (const [name, phase] of this.phases) {
          if (reached.has(name)) continue
          phase.gone++
          this.check(phase)
        }
      },
    }
  }

  private phase(name: string) {
    let phase = this.phases.get(name)
    if (phase === undefined) {
      phase = { count: 0, gone: this.left, open: Promise.withResolvers<void>() }
      this.phases.set(name, phase)
    }
    return phase
  }

  private check(phase: { count: number; gone: number; open: PromiseWithResolvers<void> }): void {
    if (phase.count + phase.gone >= this.parties) phase.open.resolve()
  }
}
