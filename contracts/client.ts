// viem clients for WeirRewards (which is also the WEIR token): deploy, anchor certified epochs, claim, read state.
import {
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
  type WalletClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
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

export interface RewardsState {
  token: Address
  network: Hex
  nextEpoch: bigint
  anchoredTotal: bigint
  latestRewardsRoot: Hex
  emissionPerEpoch: bigint
  committee: Address[]
  quorum: bigint
  rotationNonce: bigint
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

const rewardsAbi = () => loadArtifact('WeirRewards').abi

function publicClient(rpcUrl: string): PublicClient {
  // Retries are ours (withRetry), so that a whole read-check-send step is repeated, not one request.
  return createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }), pollingInterval: 100 })
}

function walletClient(rpcUrl: string, key: Hex): WalletClient {
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
    const decoded = decodeErrorResult({ abi: rewardsAbi(), data: raw })
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

async function send(
  rpcUrl: string,
  key: Hex,
  address: Address,
  functionName: string,
  args: readonly unknown[],
): Promise<{ txHash: Hex; blockNumber: bigint }> {
  const wallet = walletClient(rpcUrl, key)
  const reader = publicClient(rpcUrl)
  // Simulating first turns a revert into a decoded custom error before anything is signed.
  const { request } = await reader.simulateContract({
    address,
    abi: rewardsAbi(),
    functionName,
    args,
    account: wallet.account,
  })
  const txHash = await wallet.writeContract({ ...request, chain: null, account: wallet.account ?? null })
  const receipt = await reader.waitForTransactionReceipt({ hash: txHash })
  if (receipt.status !== 'success') throw new Error(`${functionName} transaction ${txHash} reverted`)
  return { txHash, blockNumber: receipt.blockNumber }
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
  const { abi, bytecode } = loadArtifact('WeirRewards')
  const args = [
    networkHash(options.networkId),
    options.committee,
    BigInt(options.quorum),
    options.emissionPerEpoch,
  ]
  let hash: Hex
  try {
    hash = await wallet.deployContract({ abi, bytecode, args, account: wallet.account ?? null, chain: null })
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
  const token = (await reader.readContract({ address: rewards, abi, functionName: 'token' })) as Address
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
  const next = (await reader.readContract({
    address: options.rewards,
    abi: rewardsAbi(),
    functionName: 'nextEpoch',
  })) as bigint
  if (epoch >= next) return undefined
  const [contentRoot, rewardsRoot, cumulativeTotal] = (await reader.readContract({
    address: options.rewards,
    abi: rewardsAbi(),
    functionName: 'rootOf',
    args: [epoch],
  })) as [Hex, Hex, bigint]
  return { epoch, contentRoot, rewardsRoot, cumulativeTotal }
}

/** Every anchored epoch, oldest first, from the contract's EpochSubmitted events. */
export async function anchoredEpochs(options: {
  rpcUrl: string
  rewards: Address
}): Promise<(AnchoredRoot & { txHash: Hex })[]> {
  const logs = await publicClient(options.rpcUrl).getContractEvents({
    address: options.rewards,
    abi: rewardsAbi(),
    eventName: 'EpochSubmitted',
    fromBlock: 0n,
  })
  return logs.map(log => {
    const args = (log as unknown as { args: AnchoredRoot }).args
    return {
      epoch: args.epoch,
      contentRoot: args.contentRoot,
      rewardsRoot: args.rewardsRoot,
      cumulativeTotal: args.cumulativeTotal,
      txHash: log.transactionHash as Hex,
    }
  })
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
    ]
    try {
      const { txHash } = await send(rpcUrl, key, rewards, 'submitEpoch', args)
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
  const token = (await reader.readContract({
    address: rewards,
    abi: rewardsAbi(),
    functionName: 'token',
  })) as Address
  const { txHash, blockNumber } = await send(rpcUrl, options.key, rewards, 'claim', [
    account,
    options.cumulativeAmount,
    options.proof,
  ])
  const balanceAt = async (block: bigint) =>
    (await reader.readContract({
      address: token,
      abi: rewardsAbi(),
      functionName: 'balanceOf',
      args: [account],
      blockNumber: block,
    })) as bigint
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
  const args = [options.members, BigInt(options.quorum), options.signatures]
  const { txHash } = await send(options.rpcUrl, options.key, options.rewards, 'rotateCommittee', args)
  return { txHash }
}

export async function claimedBy(options: {
  rpcUrl: string
  rewards: Address
  account: Address
}): Promise<bigint> {
  return (await publicClient(options.rpcUrl).readContract({
    address: options.rewards,
    abi: rewardsAbi(),
    functionName: 'claimed',
    args: [options.account],
  })) as bigint
}

export async function tokenBalance(options: {
  rpcUrl: string
  token: Address
  account: Address
}): Promise<bigint> {
  return (await publicClient(options.rpcUrl).readContract({
    address: options.token,
    abi: rewardsAbi(),
    functionName: 'balanceOf',
    args: [options.account],
  })) as bigint
}

export async function readRewards(options: { rpcUrl: string; rewards: Address }): Promise<RewardsState> {
  const reader = publicClient(options.rpcUrl)
  const read = (functionName: string) =>
    reader.readContract({ address: options.rewards, abi: rewardsAbi(), functionName })
  const names = [
    'token',
    'network',
    'nextEpoch',
    'anchoredTotal',
    'latestRewardsRoot',
    'emissionPerEpoch',
    'committee',
    'quorum',
    'rotationNonce',
  ] as const
  const values = await Promise.all(names.map(read))
  return Object.fromEntries(names.map((name, i) => [name, values[i]])) as unknown as RewardsState
}
