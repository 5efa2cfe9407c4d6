import { DEFAULT_STUN_SERVERS } from '../node/host/host.ts'
import { parseStunServer, type StunServer } from '../node/host/nat-mapping.ts'
import { type FlagSpec, UsageError } from './args.ts'

/** The flag every role off a local network takes for the STUN servers hole punching asks. */
export const STUN_FLAG = {
  stun: { type: 'string', multiple: true },
} as const satisfies FlagSpec

export const STUN_USAGE = '[--stun HOST:PORT]...'

export const STUN_HELP = `--stun (repeatable) names the STUN servers that tell this node how its NAT maps
ports, for hole punching (default: ${DEFAULT_STUN_SERVERS.join(', ')}).`

/** The --stun servers, each checked, or the defaults. */
export function stunFlag(values: string[] | undefined): StunServer[] {
  if (values === undefined || values.length === 0) return DEFAULT_STUN_SERVERS
  return values.map(text => {
    try {
      parseStunServer(text)
    } catch (err) {
      throw new UsageError(`--stun: ${(err as Error).message}`)
    }
    return text
  })
}
