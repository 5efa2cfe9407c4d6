import { multiaddr } from '@multiformats/multiaddr'
import { isDialableAddress } from '../node/host/reachability.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import { type FlagSpec, UsageError } from './args.ts'

/** The flag every listening role takes for the addresses peers should dial it at. */
export const ANNOUNCE_FLAG = {
  announce: { type: 'string', multiple: true },
} as const satisfies FlagSpec

export const ANNOUNCE_USAGE = '[--announce MULTIADDR]...'

export const ANNOUNCE_HELP = `--announce (repeatable) tells peers to dial these addresses instead of
the listen addresses, e.g. a forwarded port on the router: /ip4/<public address>/tcp/4001; on a network
that is not local it must not be a loopback or private address.`

/** The --announce multiaddrs, each parsed, and dialable from outside unless the network is local. */
export function announceFlag(values: string[] | undefined, network: NetworkDefinition): string[] {
  return (values ?? []).map(text => {
    let address: ReturnType<typeof multiaddr>
    try {
      address = multiaddr(text)
    } catch {
      throw new UsageError(`--announce expects a multiaddr such as /ip4/203.0.113.7/tcp/4001, got '${text}'`)
    }
    if (network.local !== true && !isDialableAddress(address))
      throw new UsageError(
        `--announce ${text}: a loopback or private address cannot be dialled from the Internet, and network ${network.id} is not local`,
      )
    return text
  })
}
