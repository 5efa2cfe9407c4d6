import { networkInterfaces } from 'node:os'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The IP address a multiaddr starts with (`/ip4/…`, `/ip6/…`); undefined for names and the rest. */
export function ipOfMultiaddr(address: Multiaddr): string | undefined {
  const first = address.getComponents()[0]
  return first?.name === 'ip4' || first?.name === 'ip6' ? first.value : undefined
}

// Reading the interfaces takes ~160 µs (docs/exit-policy.md), too much for every tunnel request.
const INTERFACES_MAX_AGE_MS = 1000

/**
 * Every address this machine is known by: its interfaces' addresses (read again after a second), and
 * those libp2p announces for it (listen, announce and observed addresses it has confirmed).
 */
export function ownAddresses(
  announced: () => Multiaddr[],
  now: () => number = () => performance.now(),
): () => string[] {
  let interfaces: string[] = []
  let readAt = Number.NEGATIVE_INFINITY
  return () => {
    if (now() - readAt >= INTERFACES_MAX_AGE_MS) {
      interfaces = Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address))
      readAt = now()
    }
    return [...interfaces, ...announced().flatMap(address => ipOfMultiaddr(address) ?? [])]
  }
}
