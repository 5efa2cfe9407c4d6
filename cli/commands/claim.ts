import type { Hex } from 'viem'
import { claimRewards, claimedBy } from '../../contracts/client.ts'
import { fetchRewards } from '../../ledger/anchoring.ts'
import { to0x } from '../../protocol/bytes.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'
import { parseFlags } from '../args.ts'
import { chainFlagSpec, readChainFlags } from '../chain-flags.ts'
import type { Command } from '../command.ts'

export const command: Command = {
  summary: "claim the key's rewards: the ledger's cumulative proof, paid on chain",
  usage: 'weir claim --ledger URL --rpc URL --contract ADDR --key FILE',
  async run(argv) {
    const { values: v } = parseFlags(argv, chainFlagSpec)
    const { ledger, rpcUrl, rewards, secret } = readChainFlags(
      v,
      'a file holding the payout 0x secp256k1 key',
    )
    const account = addressOfSecretKey(secret)
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
