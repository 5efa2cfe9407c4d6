import { loadDataDir } from '../../node/host/datadir.ts'
import type { Hex } from 'viem'
import { startAnchoring } from '../../ledger/anchoring.ts'
import { to0x } from '../../protocol/bytes.ts'
import { keyVoteSigner } from '../../ledger/vote-signer.ts'
import { decodeCertificate } from '../../protocol/vote.ts'
import type { Command } from '../command.ts'
import { addressFlag, type FlagSpec, hostPortFlag, requireFlag, UsageError, urlFlag } from '../args.ts'
import { secp256k1KeyFlag } from '../chain-flags.ts'
import { ANNOUNCE_FLAG, ANNOUNCE_HELP, ANNOUNCE_USAGE, announceFlag } from '../announce-flag.ts'
import { type FlagValues, readSettings } from '../config.ts'
import { LOG_FLAGS, LOG_USAGE, roleLogger } from '../log-flags.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir ledger --dir DIR --signer-key FILE [--api HOST:PORT] [--listen MULTIADDR]... ${ANNOUNCE_USAGE}
       [--bootstrap MULTIADDR]... [--rpc URL --contract ADDR --anchor-key FILE] ${LOG_USAGE}

Runs a ledger committee member: stores attestations and relay records from gossip, certifies each
epoch's tally with the committee and serves the HTTP API (default 127.0.0.1:7380). The first stdout
line is JSON: {"peerId", "addresses", "api" (HOST:PORT), "signer"}. With --rpc, --contract and
--anchor-key it also anchors its certified epochs on chain, in order (the key pays the gas). The log
goes to stderr. Every flag but --dir can also be set in DIR/config.json; flags on the command line win.
${ANNOUNCE_HELP}`

const FLAGS = {
  dir: { type: 'string' },
  'signer-key': { type: 'string' },
  api: { type: 'string' },
  listen: { type: 'string', multiple: true },
  ...ANNOUNCE_FLAG,
  bootstrap: { type: 'string', multiple: true },
  rpc: { type: 'string' },
  contract: { type: 'string' },
  'anchor-key': { type: 'string' },
  ...LOG_FLAGS,
} as const satisfies FlagSpec

export const command: Command = {
  summary: 'run a ledger committee member (store, epoch votes and certificates, HTTP API)',
  usage: USAGE,
  async run(argv) {
    const settings = readSettings(argv, FLAGS)
    const v = settings.values
    const { log, chain, data, signer, api, announce } = settings.check(ledgerConfig)
    const { Ledger } = await import('../../ledger/ledger.ts')
    const ledger = await Ledger.start({
      data,
      signer,
      api,
      ...(v.listen ? { listen: v.listen } : {}),
      announce,
      ...(v.bootstrap ? { bootstrap: v.bootstrap } : {}),
      log,
    })
    console.log(JSON.stringify(ledger.info()))
    const anchorer =
      chain &&
      startAnchoring(
        chain,
        epoch => {
          const stored = ledger.store.certificate(epoch)
          return stored && decodeCertificate(stored.bytes)
        },
        log,
      )
    const signal = await untilSignal()
    log.info(`${signal}: stopping`)
    await anchorer?.stop()
    await ledger.stop()
    return 0
  },
}

function ledgerConfig(v: FlagValues<typeof FLAGS>) {
  const log = roleLogger('ledger', v)
  const anchoring = [v.rpc, v.contract, v['anchor-key']].filter(x => x !== undefined).length
  if (anchoring !== 0 && anchoring !== 3)
    throw new UsageError('--rpc, --contract and --anchor-key go together')
  const chain =
    anchoring === 3
      ? {
          rpcUrl: urlFlag(v.rpc, 'rpc', 'http://127.0.0.1:8545'),
          rewards: addressFlag(v.contract, 'contract'),
          key: to0x(
            secp256k1KeyFlag(v['anchor-key'], 'anchor-key', 'the secp256k1 key that pays gas'),
          ) as Hex,
        }
      : undefined
  const data = loadDataDir(requireFlag(v.dir, 'dir', 'the ledger data dir (weir init or weir network new)'))
  const signer = keyVoteSigner(secp256k1KeyFlag(v['signer-key'], 'signer-key', 'the secp256k1 key file'))
  if (!data.network.committee.some(m => m.signer === signer.address)) {
    throw new UsageError(
      `--signer-key: ${signer.address} is not a committee signer of network ${data.network.id}`,
    )
  }
  for (const a of [...(v.listen ?? []), ...(v.bootstrap ?? [])]) {
    if (!a.startsWith('/')) throw new UsageError(`--listen/--bootstrap expect multiaddrs, got '${a}'`)
  }
  const api = hostPortFlag(v.api ?? '127.0.0.1:7380', 'api')
  return { log, chain, data, signer, api, announce: announceFlag(v.announce, data.network) }
}
