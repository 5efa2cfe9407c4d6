import type { Hex } from 'viem'
import { claimRewards, claimedBy } from '../../contracts/client.ts'
import { fetchRewards } from '../../ledger/anchoring.ts'
import { to0x } from '../../protocol/bytes.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'
import { addressFlag, parseFlags } from '../args.ts'
import { chainFlagSpec, readChainFlags } from '../chain-flags.ts'
import type { Command } from '../command.ts'

export const command: Command = {
  summary: "claim a payout address's rewards: the ledger's cumulative proof, paid on chain",
  usage: `weir claim --ledger URL --rpc URL --contract ADDR --key FILE [--account 0xADDR]

Claims the cumulative rewards of --account (default: the address of --key) with the proof from the
ledger. The contract pays the account, never the sender, so --key can be any funded key: the payout
key itself need not be on the machine.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, { ...chainFlagSpec, account: { type: 'string' } })
    const { ledger, rpcUrl, rewards, secret } = readChainFlags(v, 'a file holding a funded 0x secp256k1 key')
    const account = v.account === undefined ? addressOfSecretKey(secret) : addressFlag(v.account, 'account')
    const owed = await fetchRewards(ledger, account)
    const already = await claimedBy({ rpcUrl, rewards, account })
    if (owed.amount <= already) {
      console.log(
        JSON.stringify({ account, epoch: owed.epoch, cumulative: owed.amount.toString(), received: '0' }),
      )
      console.error(`weir claim: nothing new: ${account} has claimed ${already} of ${owed.amount} already`)
      return 0
    }
    const { amount, txHash } = await claimRewards({
      rpcUrl,
      key: to0x(secret) as Hex,
      rewards,
      account,
      cumulativeAmount: owed.amount,
      proof: owed.proof,
    })
    console.log(
      JSON.stringify({
        account,
        epoch: owed.epoch,
        cumulative: owed.amount.toString(),
        received: amount.toString(),
        txHash,
      }),
    )
    return 0
  },
}
