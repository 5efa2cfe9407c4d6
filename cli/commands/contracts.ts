import { readFileSync } from 'node:fs'
import { type Address, createPublicClient, type Hex, http, isAddress } from 'viem'
import type { Command } from '../main.ts'
import { parseFlags, requireFlag, UsageError } from '../args.ts'

const usage = 'weir contracts deploy --rpc URL --key FILE --network FILE'

/** What deploying needs from a network definition (protocol/network.ts validates the whole file). */
interface DeploySettings {
  id: string
  committee: Address[]
  quorum: number
  emissionPerEpoch: bigint
  chainId: number
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`)
  }
}

export function readKeyFile(path: string): Hex {
  const key = readText(path, 'key').trim()
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
    throw new UsageError(`--key: ${path} must hold a 0x-prefixed 32-byte hex secp256k1 private key`)
  }
  return key as Hex
}

export function readDeploySettings(path: string): DeploySettings {
  let json: unknown
  try {
    json = JSON.parse(readText(path, 'network'))
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`--network: ${path} is not valid JSON: ${(err as Error).message}`)
  }
  const fail = (field: string, expected: string): never => {
    throw new UsageError(`--network: ${path}: '${field}' must be ${expected}`)
  }
  if (typeof json !== 'object' || json === null) return fail('(root)', 'a JSON object')
  const def = json as Record<string, unknown>
  if (typeof def.id !== 'string' || def.id === '') fail('id', 'a non-empty string')
  if (!Array.isArray(def.committee) || def.committee.length === 0) fail('committee', 'a non-empty array')
  const committee = (def.committee as unknown[]).map((member, i) => {
    const signer = (member as { signer?: unknown } | null)?.signer
    if (typeof signer !== 'string' || !isAddress(signer, { strict: false })) {
      fail(`committee[${i}].signer`, 'a 0x-prefixed 20-byte address')
    }
    return signer as Address
  })
  const n = committee.length
  const quorum = def.quorum ?? Math.floor((2 * n) / 3) + 1
  if (typeof quorum !== 'number' || !Number.isInteger(quorum) || quorum < 1 || quorum > n) {
    fail('quorum', `a whole number from 1 to the committee size ${n}`)
  }
  if (typeof def.emissionPerEpoch !== 'string' || !/^\d+$/.test(def.emissionPerEpoch)) {
    fail('emissionPerEpoch', 'a decimal string of token units')
  }
  const chainId = (def.chain as { chainId?: unknown } | undefined)?.chainId
  if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId < 1) {
    fail('chain.chainId', 'a positive whole number')
  }
  return {
    id: def.id as string,
    committee,
    quorum: quorum as number,
    emissionPerEpoch: BigInt(def.emissionPerEpoch as string),
    chainId: chainId as number,
  }
}

export const command: Command = {
  summary: 'deploy the reward token and rewards contract for a network',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { rpc: { type: 'string' }, key: { type: 'string' }, network: { type: 'string' } },
      1,
    )
    if (positionals[0] !== 'deploy') throw new UsageError(`expected the subcommand 'deploy'`)
    const rpcUrl = requireFlag(values.rpc, 'rpc', 'the JSON-RPC URL of the chain, e.g. http://127.0.0.1:8545')
    if (!/^https?:\/\//.test(rpcUrl)) throw new UsageError(`--rpc expects an http(s) URL, got '${rpcUrl}'`)
    const deployerKey = readKeyFile(requireFlag(values.key, 'key', 'a file holding the deployer private key'))
    const settings = readDeploySettings(
      requireFlag(values.network, 'network', 'the network definition JSON file'),
    )

    const chainId = await createPublicClient({ transport: http(rpcUrl) }).getChainId()
    if (chainId !== settings.chainId) {
      throw new Error(
        `the chain at ${rpcUrl} has chain id ${chainId}, the network definition says ${settings.chainId}`,
      )
    }
    const { deployContracts } = await import('../../contracts/client.ts')
    const { token, rewards } = await deployContracts({
      rpcUrl,
      deployerKey,
      networkId: settings.id,
      ...settings,
    })
    console.log(JSON.stringify({ token, rewards, chainId }))
    return 0
  },
}
