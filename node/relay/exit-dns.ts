import { Resolver } from 'node:dns/promises'
import type { Lookup } from './exit-policy.ts'

/**
 * Resolves exit targets with the given DNS servers (`host:port`) instead of the system resolver, for
 * operators who want exits to use a resolver of their own. Answers are A and AAAA records together;
 * the exit policy still judges every address.
 */
export function dnsServerLookup(servers: string[]): Lookup {
  const resolver = new Resolver({ timeout: 3000, tries: 2 })
  resolver.setServers(servers)
  return async name => {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)])
    const answers = [
      ...(v4.status === 'fulfilled' ? v4.value.map(address => ({ address, family: 4 })) : []),
      ...(v6.status === 'fulfilled' ? v6.value.map(address => ({ address, family: 6 })) : []),
    ]
    if (answers.length === 0) throw new Error(`${name}: no A or AAAA records`)
    return answers
  }
}
