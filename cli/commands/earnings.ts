import { claimedBy, readRewards } from '../../contracts/client.ts'
import { fetchCertificate, fetchRewards } from '../../ledger/anchoring.ts'
import { loadDataDir } from '../../node/host/datadir.ts'
import { parseHex, to0x } from '../../protocol/bytes.ts'
import { verifyRewardProof } from '../../protocol/merkle.ts'
import type { Address, NetworkDefinition } from '../../protocol/network.ts'
import { verifyCertificate } from '../../protocol/vote.ts'
import { addressFlag, parseFlags, requireFlag, UsageError, urlFlag } from '../args.ts'
import type { Command } from '../command.ts'

const USAGE = `weir earnings --dir DIR --ledger URL [--rpc URL] [--contract ADDR]

Prints what the payout address of DIR's config.json has earned, as one JSON line: the cumulative
amount of the latest certified epoch, checked against that epoch's certificate (a quorum of the
network's committee) and its Merkle proof, so a ledger cannot overstate it. With --rpc it also reads
what was claimed on chain and what is claimable now (the contract is the network definition's
chain.rewards, or --contract).`

export const command: Command = {
  summary: 'show a payout address: earned (verified against the certified root), claimed, claimable',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      dir: { type: 'string' },
      ledger: { type: 'string' },
      rpc: { type: 'string' },
      contract: { type: 'string' },
    })
    const data = loadDataDir(requireFlag(v.dir, 'dir', 'the data dir made by weir init'))
    const ledger = urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:7380')
    const rewards =
      v.contract === undefined ? data.network.chain.rewards : addressFlag(v.contract, 'contract')
    if (!rewards)
      throw new UsageError('--contract is required: the network definition names no chain.rewards')
    const account = data.config.payout
    if (!account) throw new Error(`${data.dir}/config.json: no payout address (weir init --payout 0x…)`)

    const earned = await verifiedEarnings(ledger, account, data.network, rewards)
    const chain =
      v.rpc === undefined ? undefined : await onChain(urlFlag(v.rpc, 'rpc', 'http://127.0.0.1:8545'))
    console.log(JSON.stringify({ account, ...earned, ...chain }))
    return 0

    async function onChain(rpcUrl: string) {
      const state = await readRewards({ rpcUrl, rewards: rewards as Address })
      const claimed = await claimedBy({ rpcUrl, rewards: rewards as Address, account: account as Address })
      // The contract pays against its latest anchored root only; the ledger may be an epoch ahead of it.
      const anchored = state.latestRewardsRoot.toLowerCase() === earned.rewardsRoot
      return {
        claimed: claimed.toString(),
        anchoredEpoch: Number(state.nextEpoch) - 1,
        claimable: anchored ? (BigInt(earned.earned) - claimed).toString() : null,
      }
    }
  },
}

async function verifiedEarnings(
  ledger: string,
  account: Address,
  network: NetworkDefinition,
  rewards: Address,
) {
  const owed = await fetchRewards(ledger, account)
  const cert = await fetchCertificate(ledger, owed.epoch)
  if (!cert) throw new Error(`${ledger}: no certificate for epoch ${owed.epoch}, which its rewards cite`)
  const domain = { chainId: network.chain.chainId, verifyingContract: rewards }
  const committee = network.committee.map(m => m.signer)
  const check = verifyCertificate(domain, cert, committee, network.quorum)
  if (!check.ok)
    throw new Error(`${ledger}: the certificate of epoch ${owed.epoch} is not valid: ${check.reason}`)
  const proof = owed.proof.map(p => parseHex(p, 32))
  if (!proof.every(p => p !== undefined)) throw new Error(`${ledger}: a proof element is not 32 bytes of hex`)
  if (!verifyRewardProof(cert.rewardsRoot, { account, amount: owed.amount }, proof))
    throw new Error(`${ledger}: the proof of ${account}'s amount does not match the certified rewards root`)
  return { epoch: owed.epoch, earned: owed.amount.toString(), rewardsRoot: to0x(cert.rewardsRoot) }
}
