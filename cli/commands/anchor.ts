import type { Address, Hex } from 'viem'
import { anchorCertified, fetchCertificate } from '../../ledger/anchoring.ts'
import { loadSecp256k1Key } from '../../node/identity.ts'
import { to0x } from '../../protocol/bytes.ts'
import type { Command } from '../main.ts'
import { intFlag, parseFlags, requireFlag, UsageError } from '../args.ts'

export function addressFlag(value: string | undefined, flag: string): Address {
  const text = requireFlag(value, flag, 'a 0x-prefixed 20-byte contract address')
  if (!/^0x[0-9a-fA-F]{40}$/.test(text))
    throw new UsageError(`--${flag} expects a 0x-prefixed 20-byte address, got '${text}'`)
  return text as Address
}

export function urlFlag(value: string | undefined, flag: string, example: string): string {
  const text = requireFlag(value, flag, `a URL such as ${example}`)
  try {
    const url = new URL(text)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error()
  } catch {
    throw new UsageError(`--${flag} expects an http(s) URL such as ${example}, got '${text}'`)
  }
  return text
}

export const command: Command = {
  summary: "anchor a ledger's certified epochs on chain (all pending ones, or --epoch N)",
  usage: 'weir anchor --ledger URL --rpc URL --contract ADDR --key FILE [--epoch N]',
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      ledger: { type: 'string' },
      rpc: { type: 'string' },
      contract: { type: 'string' },
      key: { type: 'string' },
      epoch: { type: 'string' },
    })
    const ledger = urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:8080')
    const rpcUrl = urlFlag(v.rpc, 'rpc', 'http://127.0.0.1:8545')
    const rewards = addressFlag(v.contract, 'contract')
    const key = to0x(
      loadSecp256k1Key(requireFlag(v.key, 'key', 'a file holding the 0x secp256k1 key that pays gas')),
    )
    const only = v.epoch === undefined ? undefined : intFlag(v.epoch, 'epoch', 0)
    const done = await anchorCertified({ rpcUrl, rewards, key: key as Hex }, async epoch => {
      if (only !== undefined && epoch !== only) return undefined
      return fetchCertificate(ledger, epoch)
    })
    for (const { epoch, result } of done) {
      console.log(
        JSON.stringify({ epoch, alreadyAnchored: result.alreadyAnchored, txHash: result.txHash ?? null }),
      )
    }
    if (only !== undefined && !done.some(d => d.epoch === only)) {
      const cert = await fetchCertificate(ledger, only)
      if (!cert) throw new Error(`${ledger}: epoch ${only} is not certified yet`)
      throw new Error(`epoch ${only} is not the contract's next epoch; anchor the epochs before it first`)
    }
    if (done.length === 0)
      console.error('weir anchor: nothing to anchor: the chain is up to date with the ledger')
    return 0
  },
}
