import { readFileSync } from 'node:fs'
import { createPublicClient, http, toHex } from 'viem'
import { NetworkDefinitionError } from '../../protocol/errors.ts'
import { loadNetworkDefinition, type NetworkDefinition } from '../../protocol/network.ts'
import type { Command } from '../command.ts'
import { parseFlags, requireFlag, UsageError, urlFlag } from '../args.ts'
import { secp256k1KeyFlag } from '../chain-flags.ts'

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
    const rpcUrl = urlFlag(values.rpc, 'rpc', 'http://127.0.0.1:8545')
    const deployerKey = toHex(secp256k1KeyFlag(values.key, 'key', 'a file holding the deployer private key'))
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
