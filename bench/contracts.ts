// Gas of the rewards contract's transactions on Anvil, each set against a plain ERC-20 transfer of the same
// token measured in the same run (to an existing holder, and to a fresh account whose balance slot is new).
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import {
  type Address,
  createPublicClient,
  type Hex,
  hexToBytes,
  http,
  keccak256,
  numberToHex,
  toHex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { startAnvil } from '../contracts/anvil.ts'
import { loadArtifact } from '../contracts/artifacts.ts'
import { anchorEpoch, claimRewards, deployContracts } from '../contracts/client.ts'
import { epochRootTypedData } from '../contracts/typed-data.ts'

const INTRINSIC = 21_000n
const LEAVES = 1_000

export interface ContractsGas {
  bench: 'contracts'
  leaves: number
  proofLength: number
  transferToHolder: number
  transferToNew: number
  submitEpochFirst: number
  submitEpoch: number
  claimFirst: number
  claimRepeat: number
  /** Parts of claimFirst: intrinsic, calldata, SSTORE, SLOAD, LOG, KECCAK256, other opcodes. */
  claimFirstBreakdown: Record<string, number>
  claimFirstVsTransferToNew: number
  claimRepeatVsTransferToHolder: number
}

export async function main(): Promise<void> {
  const gas = await measure()
  const rows: [string, number, number][] = [
    ['erc20 transfer to a holder (baseline)', gas.transferToHolder, gas.transferToHolder],
    ['erc20 transfer to a new account (baseline)', gas.transferToNew, gas.transferToNew],
    ['submitEpoch 3-of-4, first epoch', gas.submitEpochFirst, gas.transferToNew],
    ['submitEpoch 3-of-4, later epoch', gas.submitEpoch, gas.transferToNew],
    ['claim, first for the account', gas.claimFirst, gas.transferToNew],
    ['claim, repeat (account claimed before)', gas.claimRepeat, gas.transferToHolder],
  ]
  const base = Number(INTRINSIC)
  console.log(`gas on Anvil; ${gas.leaves}-leaf rewards tree, proof length ${gas.proofLength}`)
  console.log(
    `${'transaction'.padEnd(44)} ${'gas'.padStart(8)} ${'w/o 21000'.padStart(10)}  ratio to baseline`,
  )
  for (const [name, used, baseline] of rows) {
    const ratio = (used - base) / (baseline - base)
    console.log(
      `${name.padEnd(44)} ${String(used).padStart(8)} ${String(used - base).padStart(10)}  ${ratio.toFixed(2)}×`,
    )
  }
  console.log('first claim, where the gas goes:')
  for (const [part, used] of Object.entries(gas.claimFirstBreakdown))
    console.log(`  ${part.padEnd(12)} ${String(used).padStart(6)}`)
  console.log(JSON.stringify(gas))
}

/** Runs the transactions on a fresh Anvil (with opcode tracing, for the breakdown) and returns their gas. */
export async function measure(): Promise<ContractsGas> {
  const anvil = await startAnvil({ accounts: 10, stepsTracing: true })
  try {
    const rpcUrl = anvil.rpcUrl
    const keys = anvil.privateKeys
    const client = createPublicClient({ transport: http(rpcUrl) })
    const gasOf = async (hash: Hex) => (await client.getTransactionReceipt({ hash })).gasUsed
    const committee = keys.slice(1, 5)
    const networkId = 'bench-contracts'
    const { token, rewards } = await deployContracts({
      rpcUrl,
      deployerKey: keys[0]!,
      networkId,
      committee: committee.map(k => privateKeyToAccount(k).address),
      quorum: 3,
      emissionPerEpoch: 10n ** 24n,
    })

    // Claimants hold anvil keys (so they can make the baseline transfers); the rest are filler leaves.
    const [claimant, holder] = [keys[5]!, keys[6]!].map(k => privateKeyToAccount(k).address) as [
      Address,
      Address,
    ]
    const filler = Array.from(
      { length: LEAVES - 2 },
      (_, i) => keccak256(numberToHex(i)).slice(0, 42) as Address,
    )
    const treeFor = (epoch: number) =>
      StandardMerkleTree.of(
        [claimant, holder, ...filler].map((a, i) => [
          a,
          ((BigInt(i) + 1n) * 10n ** 18n * BigInt(epoch + 1)).toString(),
        ]),
        ['address', 'uint256'],
      )
    const anchor = async (epoch: number) => {
      const tree = treeFor(epoch)
      const total = [...tree.entries()].reduce((sum, [, [, v]]) => sum + BigInt(v as string), 0n)
      const root = {
        epoch,
        contentRoot: toHex(epoch + 1, { size: 32 }),
        rewardsRoot: tree.root as Hex,
        cumulativeTotal: total,
      }
      const typed = epochRootTypedData(anvil.chainId, rewards, networkId, root)
      const signatures = await Promise.all(
        committee.slice(0, 3).map(k => privateKeyToAccount(k).signTypedData(typed)),
      )
      const result = await anchorEpoch({
        rpcUrl,
        key: keys[0]!,
        rewards,
        certificate: { ...root, signatures },
      })
      if (result.alreadyAnchored) throw new Error(`epoch ${epoch} was already anchored`)
      return { tree, gas: await gasOf(result.txHash) }
    }
    const claim = async (tree: StandardMerkleTree<(string | Address)[]>, index: number) => {
      const [account, amount] = tree.at(index) as [Address, string]
      const { txHash } = await claimRewards({
        rpcUrl,
        key: keys[0]!,
        rewards,
        account,
        cumulativeAmount: BigInt(amount),
        proof: tree.getProof(index) as Hex[],
      })
      return { gas: await gasOf(txHash), txHash }
    }
    const leafIndex = (tree: StandardMerkleTree<(string | Address)[]>, account: Address) =>
      [...tree.entries()].find(([, [a]]) => a === account)![0]

    const epoch0 = await anchor(0)
    const epoch1 = await anchor(1)
    const proofLength = epoch1.tree.getProof(leafIndex(epoch1.tree, claimant)).length
    const first = await claim(epoch1.tree, leafIndex(epoch1.tree, claimant))
    const firstClaim = first.gas
    await claim(epoch1.tree, leafIndex(epoch1.tree, holder))
    const epoch2 = await anchor(2)
    const repeatClaim = (await claim(epoch2.tree, leafIndex(epoch2.tree, claimant))).gas
    const breakdown = await gasBreakdown(rpcUrl, first.txHash)

    const wallet = privateKeyToAccount(keys[5]!)
    const transfer = async (to: Address) => {
      const { createWalletClient } = await import('viem')
      const w = createWalletClient({ account: wallet, transport: http(rpcUrl) })
      const hash = await w.writeContract({
        address: token,
        abi: loadArtifact('WeirRewards').abi,
        functionName: 'transfer',
        args: [to, 1n],
        chain: null,
      })
      await client.waitForTransactionReceipt({ hash })
      return gasOf(hash)
    }
    const transferToHolder = await transfer(holder)
    const transferToNew = await transfer(privateKeyToAccount(keys[7]!).address)

    return {
      bench: 'contracts',
      leaves: LEAVES,
      proofLength,
      transferToHolder: Number(transferToHolder),
      transferToNew: Number(transferToNew),
      submitEpochFirst: Number(epoch0.gas),
      submitEpoch: Number(epoch1.gas),
      claimFirst: Number(firstClaim),
      claimRepeat: Number(repeatClaim),
      claimFirstBreakdown: breakdown,
      claimFirstVsTransferToNew: Number(firstClaim - INTRINSIC) / Number(transferToNew - INTRINSIC),
      claimRepeatVsTransferToHolder: Number(repeatClaim - INTRINSIC) / Number(transferToHolder - INTRINSIC),
    }
  } finally {
    await anvil.stop()
  }
}

/** Where a transaction's gas goes: the 21,000 base, calldata (EIP-2028 prices), and per opcode group from
 * Anvil's opcode trace. The parts add up to the receipt's gasUsed (no refunds arise on the claim path). */
async function gasBreakdown(rpcUrl: string, hash: Hex): Promise<Record<string, number>> {
  const client = createPublicClient({ transport: http(rpcUrl) })
  const input = hexToBytes((await client.getTransaction({ hash })).input)
  const trace = (await client.request({
    method: 'debug_traceTransaction',
    params: [hash, { disableStack: true, disableStorage: true, enableMemory: false }],
  } as never)) as { structLogs: { op: string; gasCost: number }[] }
  const parts: Record<string, number> = {
    intrinsic: Number(INTRINSIC),
    calldata: input.reduce((sum, byte) => sum + (byte === 0 ? 4 : 16), 0),
  }
  for (const { op, gasCost } of trace.structLogs) {
    const group = op.startsWith('LOG') ? 'LOG' : ['SSTORE', 'SLOAD', 'KECCAK256'].includes(op) ? op : 'other'
    parts[group] = (parts[group] ?? 0) + gasCost
  }
  return parts
}
