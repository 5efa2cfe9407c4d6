import { initDataDir, readNetworkFile } from '../../node/host/datadir.ts'
import type { Address } from '../../protocol/network.ts'
import type { Command } from '../command.ts'
import { parseFlags, requireFlag, UsageError } from '../args.ts'

export const command: Command = {
  summary: "create a node's data dir: identity key (0600), network definition and config",
  usage: 'weir init --dir DIR --network FILE [--payout 0xADDR]',
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      dir: { type: 'string' },
      network: { type: 'string' },
      payout: { type: 'string' },
    })
    const dir = requireFlag(v.dir, 'dir', 'the data dir to create')
    const network = readNetworkFile(requireFlag(v.network, 'network', 'the network definition JSON file'))
    if (v.payout !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(v.payout)) {
      throw new UsageError(`--payout expects a 0x-prefixed 20-byte EVM address, got '${v.payout}'`)
    }
    const config = v.payout === undefined ? {} : { payout: v.payout.toLowerCase() as Address }
    const { identity } = initDataDir(dir, network, config)
    console.log(JSON.stringify({ dir, peerId: identity.peerId, network: network.id, ...config }))
    return 0
  },
}
