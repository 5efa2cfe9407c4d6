import { readFileSync } from 'node:fs'
import { createPublicClient, type Hex, http, toHex } from 'viem'
import { loadSecp256k1Key } from '../../node/identity.ts'
import { NetworkDefinitionError } from '../../protocol/errors.ts'
import { loadNetworkDefinition, type NetworkDefinition } from '../../protocol/network.ts'
import type { Command } from '../main.ts'
import { parseFlags, requireFlag, UsageError } from '../args.ts'

function readKey(path: string): Hex {
  try {
    return toHex(loadSecp256k1Key(path))
  } catch (err) {
    throw new UsageError(`--key: ${(err as Error).message}`)
  }
}

function readNetwork(path: string): NetworkDefinition {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--network: cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    return loadNetworkDefinition(text)
  } catch (err) {
    if (err instanceof NetworkDefinitionError) throw new UsageError(`--network: ${path}: ${err.message}`)
    throw err
  }
}

export const command: Command = {
  summary: 'deploy the reward token and rewards contract for a network',
  usage: 'weir contracts deploy --rpc URL --key FILE --network FILE',
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      { rpc: { type: 'string' }, key: { type: 'string' }, network: { type: 'string' } },
      1,
    )
    if (positionals[0] !== 'deploy') throw new UsageError(`expected the subcommand 'deploy'`)
    const rpcUrl = requireFlag(values.rpc, 'rpc', 'the JSON-RPC URL of the chain, e.g. http://127.0.0.1:8545')
    if (!/^https?:\/\//.test(rpcUrl)) throw new UsageError(`--rpc expects an http(s) URL, got '${rpcUrl}'`)
    const deployerKey = readKey(requireFlag(values.key, 'key', 'a file holding the deployer private key'))
    const network = readNetwork(requireFlag(values.network, 'network', 'the network definition JSON file'))

    const chainId = await createPublicClient({ transport: http(rpcUrl) }).getChainId()
    if (chainId !== network.chain.chainId) {
      throw new Error(
        `the chain at ${rpcUrl} has chain id ${chainId}, the network definition says ${network.chain.chainId}`,
      )
    }
    const { deployContracts } = await import('../../contracts/client.ts')
    const { token, rewards } = await deployContracts({
      rpcUrl,
      deployerKey,
      networkId: network.id,
      committee: network.committee.map(m => m.signer),
      quorum: network.quorum,
      emissionPerEpoch: network.emissionPerEpoch,
    })
    console.log(JSON.stringify({ token, rewards, chainId }))
    return 0
  },
}
