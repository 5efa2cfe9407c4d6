import type { Hex } from 'viem'
import { anchorCertified, fetchCertificate } from '../../ledger/anchoring.ts'
import { to0x } from '../../protocol/bytes.ts'
import { intFlag, parseFlags } from '../args.ts'
import { chainFlagSpec, readChainFlags } from '../chain-flags.ts'
import type { Command } from '../command.ts'

export const command: Command = {
  summary: "anchor a ledger's certified epochs on chain (all pending ones, or --epoch N)",
  usage: 'weir anchor --ledger URL --rpc URL --contract ADDR --key FILE [--epoch N]',
  async run(argv) {
    const { values: v } = parseFlags(argv, { ...chainFlagSpec, epoch: { type: 'string' } })
    const { ledger, rpcUrl, rewards, secret } = readChainFlags(
      v,
      'a file holding the 0x secp256k1 key that pays gas',
    )
    const key = to0x(secret)
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
