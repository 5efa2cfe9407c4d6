import type { Hex } from 'viem'
import { claimRewards, claimedBy } from '../../contracts/client.ts'
import { fetchRewards } from '../../ledger/anchoring.ts'
import { to0x } from '../../protocol/bytes.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'
import type { Logger } from '../../node/host/log.ts'
import { addressFlag, parseFlags } from '../args.ts'
import { chainFlagSpec, readChainFlags } from '../chain-flags.ts'
import type { Command } from '../command.ts'
import { LOG_FLAGS, LOG_USAGE, roleLogger } from '../log-flags.ts'

export const command: Command = {
  summary: "claim a payout address's rewards: the ledger's cumulative proof, paid on chain",
  usage: `weir claim --ledger URL --rpc URL --contract ADDR --key FILE [--account 0xADDR] ${LOG_USAGE}

Claims the cumulative rewards of --account (default: the address of --key) with the proof from the
ledger. The contract pays the account, never the sender, so --key can be any funded key: the payout
key itself need not be on the machine. A failed claim is logged on stderr with what to do, and exits 1.`,
  async run(argv) {
    const { values: v } = parseFlags(argv, { ...chainFlagSpec, account: { type: 'string' }, ...LOG_FLAGS })
    const log = roleLogger('claim', v)
    const { ledger, rpcUrl, rewards, secret } = readChainFlags(v, 'a file holding a funded 0x secp256k1 key')
    const account = v.account === undefined ? addressOfSecretKey(secret) : addressFlag(v.account, 'account')
    const owed = await step(
      log,
      'the ledger did not give the proof',
      'check --ledger (a ledger API, e.g. http://127.0.0.1:7380) and that the account has certified rewards',
      () => fetchRewards(ledger, account),
    )
    if (owed === undefined) return 1
    const already = await step(
      log,
      'the chain did not say what was claimed',
      'check --rpc (an Ethereum JSON-RPC URL) and --contract (the rewards contract of the network)',
      () => claimedBy({ rpcUrl, rewards, account }),
    )
    if (already === undefined) return 1
    if (owed.amount <= already) {
      console.log(
        JSON.stringify({ account, epoch: owed.epoch, cumulative: owed.amount.toString(), received: '0' }),
      )
      log.info(`nothing new: ${account} has claimed ${already} of ${owed.amount} already`)
      return 0
    }
    const claimed = await step(
      log,
      'the claim transaction failed',
      `make sure --key's address has funds for gas; if the proof is refused, the chain has not anchored epoch ${owed.epoch} yet: try again after the ledger's next anchoring`,
      () =>
        claimRewards({
          rpcUrl,
          key: to0x(secret) as Hex,
          rewards,
          account,
          cumulativeAmount: owed.amount,
          proof: owed.proof,
        }),
    )
    if (claimed === undefined) return 1
    const { amount, txHash } = claimed
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

/** Runs one step of a claim; a failure is logged once, with its reason and what to do. */
async function step<T>(
  log: Logger,
  what: string,
  remedy: string,
  run: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await run()
  } catch (err) {
    const reason = ((err as Error).message.split('\n')[0] ?? '').trim()
    log.problem('claim', `claim failed: ${what}: ${reason}`, remedy, {}, 'error')
    return undefined
  }
}
