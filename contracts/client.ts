// viem clients for WeirRewards (which is also the WEIR token): deploy, anchor certified epochs, claim, read state.
import {
  type Account,
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  decodeErrorResult,
  getAddress,
  type Hex,
  HttpRequestError,
  http,
  isHex,
  type PublicClient,
  TimeoutError,
  type Transport,
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { weirRewardsAbi } from './abi.ts'
import { loadArtifact } from './artifacts.ts'
import { networkHash } from './typed-data.ts'

export interface EpochCertificate {
  epoch: number | bigint
  contentRoot: Hex
  rewardsRoot: Hex
  cumulativeTotal: bigint
  /** 65-byte r‖s‖v EIP-712 EpochRoot signatures of distinct committee members; at least `quorum`. */
  signatures: readonly Hex[]
}

export interface AnchoredRoot {
  epoch: bigint
  contentRoot: Hex
  rewardsRoot: Hex
  cumulativeTotal: bigint
}

export type AnchorResult =
  | { alreadyAnchored: false; txHash: Hex }
  /** `txHash` is the earlier anchoring transaction, when the node still serves its log. */
  | { alreadyAnchored: true; txHash: Hex | undefined }

export interface RetryOptions {
  attempts?: number
  baseDelayMs?: number
}

/** The chain already holds a different root for this epoch: two certificates conflict, which honest
 * committees never produce. Never retried. */
export class AnchorConflictError extends Error {
  override name = 'AnchorConflictError'
  constructor(
    readonly onChain: AnchoredRoot,
    readonly submitted: AnchoredRoot,
  ) {
    super(
      `epoch ${submitted.epoch} is already anchored with a different root: on chain contentRoot ` +
        `${onChain.contentRoot} rewardsRoot ${onChain.rewardsRoot} cumulativeTotal ${onChain.cumulativeTotal}, ` +
        `submitted contentRoot ${submitted.contentRoot} rewardsRoot ${submitted.rewardsRoot} ` +
        `cumulativeTotal ${submitted.cumulativeTotal}`,
    )
  }
}

function publicClient(rpcUrl: string): PublicClient {
  // Retries are ours (withRetry), so that a whole read-check-send step is repeated, not one request.
  return createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 100 })
}

function walletClient(rpcUrl: string, key: Hex): WalletClient<Transport, undefined, Account> {
  return createWalletClient({
    account: privateKeyToAccount(key),
    transport: http(rpcUrl, { retryCount: 0 }),
    pollingInterval: 100,
  })
}

/** A Weir contract refused: `errorName` is its custom error (e.g. 'NotNextEpoch'). */
export class ContractRevertError extends Error {
  override name = 'ContractRevertError'
  constructor(
    readonly errorName: string,
    readonly args: readonly unknown[],
    context: string,
  ) {
    super(`${context}: reverted with ${errorName}(${args.map(String).join(', ')})`)
  }
}

/** The custom error a Weir contract reverted with, decoded from whatever viem or the node reported. */
export function decodeRevert(err: unknown): { errorName: string; args: readonly unknown[] } | undefined {
  if (err instanceof ContractRevertError) return err
  if (!(err instanceof BaseError)) return undefined
  const reverted = err.walk(e => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError && reverted.data) {
    return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] }
  }
  // Deployments are not contract function calls: the revert data sits on the RPC error.
  const raw = (err.walk(e => isHex((e as { data?: unknown }).data)) as { data?: Hex } | null)?.data
  if (!raw || raw.length < 10) return undefined
  try {
    const decoded = decodeErrorResult({ abi: weirRewardsAbi, data: raw })
    return { errorName: decoded.errorName, args: decoded.args ?? [] }
  } catch {
    return undefined
  }
}

export function revertName(err: unknown): string | undefined {
  return decodeRevert(err)?.errorName
}

/** Connection refused or reset, timeouts, 429 and 5xx answers: worth another try. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof BaseError)) return false
  return Boolean(
    err.walk(
      e =>
        e instanceof TimeoutError ||
        (e instanceof HttpRequestError && (e.status === undefined || e.status === 429 || e.status >= 500)),
    ),
  )
}

async function withRetry<T>(step: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6
  const baseDelayMs = options.baseDelayMs ?? 200
  for (let attempt = 1; ; attempt++) {
    try {
      return await step()
    } catch (err) {
      if (attempt >= attempts || !isTransient(err)) throw err
      await new Promise(resolve => setTimeout(resolve, baseDelayMs * 2 ** (attempt - 1)))
    }
  }
}

/** Waits for a sent transaction; returns the block that holds it. */
async function confirmed(reader: PublicClient, txHash: Hex, what: string): Promise<bigint> {
  const receipt = await reader.waitForTransactionReceipt({ hash: txHash })
  if (receipt.status !== 'success') throw new Error(`${what} transaction ${txHash} reverted`)
  return receipt.blockNumber
}

/** Deploys WeirRewards, which is also the WEIR token (`token` is the same address as `rewards`). */
export async function deployContracts(options: {
  rpcUrl: string
  deployerKey: Hex
  networkId: string
  committee: readonly Address[]
  quorum: number | bigint
  emissionPerEpoch: bigint
}): Promise<{ token: Address; rewards: Address }> {
  const wallet = walletClient(options.rpcUrl, options.deployerKey)
  const reader = publicClient(options.rpcUrl)
  const { bytecode } = loadArtifact('WeirRewards')
  const args = [
    networkHash(options.networkId),
    options.committee,
    BigInt(options.quorum),
    options.emissionPerEpoch,
  ] as const
  let hash: Hex
  try {
    hash = await wallet.deployContract({
      abi: weirRewardsAbi,
      bytecode,
      args,
      account: wallet.account ?? null,
      chain: null,
    })
  } catch (err) {
    const revert = decodeRevert(err)
    // viem's message would repeat the whole bytecode; the custom error says what is wrong.
    if (revert) throw new ContractRevertError(revert.errorName, revert.args, 'deploying WeirRewards')
    throw err
  }
  const receipt = await reader.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new Error(`deploying WeirRewards failed (transaction ${hash})`)
  }
  const rewards = getAddress(receipt.contractAddress)
  const token = await reader.readContract({ address: rewards, abi: weirRewardsAbi, functionName: 'token' })
  return { token, rewards }
}

/** The roots anchored for `epoch`, or undefined while it is not anchored. */
export async function rootOf(options: {
  rpcUrl: string
  rewards: Address
  epoch: number | bigint
}): Promise<AnchoredRoot | undefined> {
  const reader = publicClient(options.rpcUrl)
  const epoch = BigInt(options.epoch)
  const next = await reader.readContract({
    address: options.rewards,
    abi: weirRewardsAbi,
    functionName: 'nextEpoch',
  })
  if (epoch >= next) return undefined
  const [contentRoot, rewardsRoot, cumulativeTotal] = await reader.readContract({
    address: options.rewards,
    abi: weirRewardsAbi,
    functionName: 'rootOf',
    args: [epoch],
  })
  return { epoch, contentRoot, rewardsRoot, cumulativeTotal }
}

/** Every anchored epoch, oldest first, from the contract's EpochSubmitted events. */
export async function anchoredEpochs(options: {
  rpcUrl: string
  rewards: Address
}): Promise<(AnchoredRoot & { txHash: Hex })[]> {
  const logs = await publicClient(options.rpcUrl).getContractEvents({
    address: options.rewards,
    abi: weirRewardsAbi,
    eventName: 'EpochSubmitted',
    fromBlock: 0n,
    strict: true,
  })
  return logs.map(({ args, transactionHash }) => ({
    epoch: args.epoch,
    contentRoot: args.contentRoot,
    rewardsRoot: args.rewardsRoot,
    cumulativeTotal: args.cumulativeTotal,
    txHash: transactionHash,
  }))
}

function sameRoot(a: AnchoredRoot, b: AnchoredRoot): boolean {
  return (
    a.contentRoot.toLowerCase() === b.contentRoot.toLowerCase() &&
    a.rewardsRoot.toLowerCase() === b.rewardsRoot.toLowerCase() &&
    a.cumulativeTotal === b.cumulativeTotal
  )
}

/**
 * Submits a certificate. Idempotent: an epoch already anchored with the same roots is a success, a different
 * root already anchored is an AnchorConflictError. Transient RPC failures are retried with exponential
 * backoff; each retry re-reads the chain first, so a submission that landed before the failure is not sent
 * twice.
 */
export async function anchorEpoch(options: {
  rpcUrl: string
  key: Hex
  rewards: Address
  certificate: EpochCertificate
  retry?: RetryOptions
}): Promise<AnchorResult> {
  const { rpcUrl, key, rewards, certificate } = options
  const submitted: AnchoredRoot = {
    epoch: BigInt(certificate.epoch),
    contentRoot: certificate.contentRoot,
    rewardsRoot: certificate.rewardsRoot,
    cumulativeTotal: certificate.cumulativeTotal,
  }
  const existing = async (): Promise<AnchorResult | undefined> => {
    const onChain = await rootOf({ rpcUrl, rewards, epoch: submitted.epoch })
    if (!onChain) return undefined
    if (!sameRoot(onChain, submitted)) throw new AnchorConflictError(onChain, submitted)
    const earlier = (await anchoredEpochs({ rpcUrl, rewards })).find(e => e.epoch === submitted.epoch)
    return { alreadyAnchored: true, txHash: earlier?.txHash }
  }
  return withRetry(async () => {
    const done = await existing()
    if (done) return done
    const args = [
      submitted.epoch,
      submitted.contentRoot,
      submitted.rewardsRoot,
      submitted.cumulativeTotal,
      certificate.signatures,
    ] as const
    try {
      const wallet = walletClient(rpcUrl, key)
      const reader = publicClient(rpcUrl)
      // Simulating first turns a revert into a decoded custom error before anything is signed.
      const { request } = await reader.simulateContract({
        address: rewards,
        abi: weirRewardsAbi,
        functionName: 'submitEpoch',
        args,
        account: wallet.account,
      })
      const txHash = await wallet.writeContract({ ...request, chain: null })
      await confirmed(reader, txHash, 'submitEpoch')
      return { alreadyAnchored: false, txHash }
    } catch (err) {
      if (isTransient(err)) throw err
      // Someone else may have anchored it between our read and our transaction (which then failed to
      // simulate, to estimate gas, or on chain).
      const raced = await existing()
      if (raced) return raced
      if (revertName(err) === 'NotNextEpoch') {
        const next = await readRewards({ rpcUrl, rewards })
        throw new Error(
          `epoch ${submitted.epoch} cannot be anchored yet: the contract expects epoch ${next.nextEpoch} next`,
        )
      }
      throw err
    }
  }, options.retry)
}

/** Claims for `account` (paid by `key`'s account); returns what `account`'s token balance grew by. */
export async function claimRewards(options: {
  rpcUrl: string
  key: Hex
  rewards: Address
  account: Address
  cumulativeAmount: bigint
  proof: readonly Hex[]
}): Promise<{ amount: bigint; txHash: Hex }> {
  const { rpcUrl, rewards, account } = options
  const reader = publicClient(rpcUrl)
  const token = await reader.readContract({ address: rewards, abi: weirRewardsAbi, functionName: 'token' })
  const wallet = walletClient(rpcUrl, options.key)
  const { request } = await reader.simulateContract({
    address: rewards,
    abi: weirRewardsAbi,
    functionName: 'claim',
    args: [account, options.cumulativeAmount, options.proof],
    account: wallet.account,
  })
  const txHash = await wallet.writeContract({ ...request, chain: null })
  const blockNumber = await confirmed(reader, txHash, 'claim')
  const balanceAt = (block: bigint) =>
    reader.readContract({
      address: token,
      abi: weirRewardsAbi,
      functionName: 'balanceOf',
      args: [account],
      blockNumber: block,
    })
  return { amount: (await balanceAt(blockNumber)) - (await balanceAt(blockNumber - 1n)), txHash }
}

/** Replaces the committee with a certificate of the current committee's CommitteeRotation signatures. */
export async function rotateCommittee(options: {
  rpcUrl: string
  key: Hex
  rewards: Address
  members: readonly Address[]
  quorum: number | bigint
  signatures: readonly Hex[]
}): Promise<{ txHash: Hex }> {
  const args = [options.members, BigInt(options.quorum), options.signatures] as const
  const wallet = walletClient(options.rpcUrl, options.key)
  const reader = publicClient(options.rpcUrl)
  const { request } = await reader.simulateContract({
    address: options.rewards,
    abi: weirRewardsAbi,
    functionName: 'rotateCommittee',
    args,
    account: wallet.account,
  })
  const txHash = await wallet.writeContract({ ...request, chain: null })
  await confirmed(reader, txHash, 'rotateCommittee')
  return { txHash }
}

export async function claimedBy(options: {
  rpcUrl: string
  rewards: Address
  account: Address
}): Promise<bigint> {
  return publicClient(options.rpcUrl).readContract({
    address: options.rewards,
    abi: weirRewardsAbi,
    functionName: 'claimed',
    args: [options.account],
  })
}

export async function tokenBalance(options: {
  rpcUrl: string
  token: Address
  account: Address
}): Promise<bigint> {
  return publicClient(options.rpcUrl).readContract({
    address: options.token,
    abi: weirRewardsAbi,
    functionName: 'balanceOf',
    args: [options.account],
  })
}

/** The contract's state, one read per value. */
export async function readRewards(options: { rpcUrl: string; rewards: Address }) {
  const reader = publicClient(options.rpcUrl)
  const at = { address: options.rewards, abi: weirRewardsAbi } as const
  const [
    token,
    network,
    nextEpoch,
    anchoredTotal,
    latestRewardsRoot,
    emissionPerEpoch,
    committee,
    quorum,
    rotationNonce,
  ] = await Promise.all([
    reader.readContract({ ...at, functionName: 'token' }),
    reader.readContract({ ...at, functionName: 'network' }),
    reader.readContract({ ...at, functionName: 'nextEpoch' }),
    reader.readContract({ ...at, functionName: 'anchoredTotal' }),
    reader.readContract({ ...at, functionName: 'latestRewardsRoot' }),
    reader.readContract({ ...at, functionName: 'emissionPerEpoch' }),
    reader.readContract({ ...at, functionName: 'committee' }),
    reader.readContract({ ...at, functionName: 'quorum' }),
    reader.readContract({ ...at, functionName: 'rotationNonce' }),
  ])
  return {
    token,
    network,
    nextEpoch,
    anchoredTotal,
    latestRewardsRoot,
    emissionPerEpoch,
    committee,
    quorum,
    rotationNonce,
  }
}
