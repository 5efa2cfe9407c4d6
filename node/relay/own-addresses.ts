import { networkInterfaces } from 'node:os'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The IP address a multiaddr starts with (`/ip4/…`, `/ip6/…`); undefined for names and the rest. */
export function ipOfMultiaddr(address: Multiaddr): string | undefined {
  const first = address.getComponents()[0]
  return first?.name === 'ip4' || first?.name === 'ip6' ? first.value : undefined
}

/**
 * Every address this machine is known by, read afresh at each call: its interfaces' addresses, and
 * those libp2p announces for it (listen, announce and observed addresses it has confirmed).
 */
export function ownAddresses(announced: () => Multiaddr[]): () => string[] {
  return () => [
    ...Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address)),
    ...announced().flatMap(address => ipOfMultiaddr(address) ?? []),
  ]
}
