import type { Address } from 'viem'
import { loadSecp256k1Key } from '../node/host/identity.ts'
import { addressFlag, requireFlag, UsageError, urlFlag } from './args.ts'

/** A secp256k1 key file named by a flag; a missing or malformed file is a usage error naming the flag. */
export function secp256k1KeyFlag(value: string | undefined, flag: string, expected: string): Uint8Array {
  const path = requireFlag(value, flag, expected)
  try {
    return loadSecp256k1Key(path)
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`)
  }
}

/** The flags of the commands that talk to a ledger and the rewards contract with a secp256k1 key. */
export const chainFlagSpec = {
  ledger: { type: 'string' },
  rpc: { type: 'string' },
  contract: { type: 'string' },
  key: { type: 'string' },
} as const

export function readChainFlags(
  v: { ledger?: string; rpc?: string; contract?: string; key?: string },
  keyIs: string,
): { ledger: string; rpcUrl: string; rewards: Address; secret: Uint8Array } {
  return {
    ledger: urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:8080'),
    rpcUrl: urlFlag(v.rpc, 'rpc', 'http://127.0.0.1:8545'),
    rewards: addressFlag(v.contract, 'contract'),
    secret: secp256k1KeyFlag(v.key, 'key', keyIs),
  }
}
