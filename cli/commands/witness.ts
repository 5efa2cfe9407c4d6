import { isIP } from 'node:net'
import { join } from 'node:path'
import { NETWORK_FILE, readNetworkFile } from '../../node/host/datadir.ts'
import { SinkAddressError, startWitnessRole } from '../../witness/role.ts'
import type { Command } from '../command.ts'
import { type FlagSpec, hostPortFlag, intFlag, requireFlag, UsageError, urlFlag } from '../args.ts'
import { ANNOUNCE_FLAG, ANNOUNCE_HELP, ANNOUNCE_USAGE, announceFlag } from '../announce-flag.ts'
import { STUN_FLAG, STUN_HELP, STUN_USAGE, stunFlag } from '../stun-flag.ts'
import { type FlagValues, readSettings } from '../config.ts'
import { LOG_FLAGS, LOG_USAGE, roleLogger } from '../log-flags.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir witness --dir DIR [--listen MULTIADDR]... ${ANNOUNCE_USAGE} [--bootstrap MULTIADDR]...
       ${STUN_USAGE} [--sink HOST:PORT] [--status HOST:PORT] [--ledger URL] [--concurrency N] ${LOG_USAGE}

Probes the relays assigned to this witness each epoch and gossips signed attestations. --sink is the
TCP address probe circuits exit to (default 127.0.0.2:0; relays must be able to reach it), and must not
be an address the witness listens on: relays would know probes by where they exit. --ledger is
a ledger API to fetch certificates (epoch seeds) from when the votes topic has not brought them.
The first line on stdout is JSON with the peer id, listen addresses, sink and status addresses; the
log goes to stderr. Every flag but --dir can also be set in DIR/config.json; flags on the command line
win. ${ANNOUNCE_HELP} ${STUN_HELP}`

const FLAGS = {
  dir: { type: 'string' },
  listen: { type: 'string', multiple: true },
  ...ANNOUNCE_FLAG,
  ...STUN_FLAG,
  bootstrap: { type: 'string', multiple: true },
  sink: { type: 'string' },
  status: { type: 'string' },
  ledger: { type: 'string' },
  concurrency: { type: 'string' },
  ...LOG_FLAGS,
} as const satisfies FlagSpec

export const command: Command = {
  summary: 'run a witness: probe assigned relays, publish signed attestations, serve /status and /metrics',
  usage: USAGE,
  async run(argv) {
    const settings = readSettings(argv, FLAGS)
    const v = settings.values
    const { dir, announce, sink, status, ledger, concurrency, log } = settings.check(witnessConfig)

    const stopRequested = untilSignal()
    const witness = await startWitnessRole({
      dir,
      ...(v.listen ? { listen: v.listen } : {}),
      announce,
      stunServers: settings.check(values => stunFlag(values.stun)),
      ...(v.bootstrap ? { bootstrap: v.bootstrap } : {}),
      sink,
      ...(status ? { status } : {}),
      ...(ledger ? { ledger } : {}),
      concurrency,
      log: line => log.info(line),
      logger: log,
    }).catch(err => {
      throw err instanceof SinkAddressError ? new UsageError(err.message) : err
    })
    console.log(JSON.stringify(witness.info))
    const signal = await stopRequested
    log.info(`${signal}: stopping`)
    await witness.stop()
    return 0
  },
}

function witnessConfig(v: FlagValues<typeof FLAGS>) {
  const sink = hostPortFlag(v.sink ?? '127.0.0.2:0', 'sink')
  // the sink's address is also where relays are told to connect: an unspecified one reaches nobody
  if (isIP(sink.host) !== 0 && /^[0:.]+$/.test(sink.host))
    throw new UsageError(
      `--sink is the address relays connect to: give one they can reach, not '${sink.host}'`,
    )
  const dir = requireFlag(v.dir, 'dir', 'a witness data dir (weir network new makes witness-N/)')
  const checked = {
    dir,
    sink,
    status: v.status === undefined ? undefined : hostPortFlag(v.status, 'status'),
    ledger: v.ledger === undefined ? undefined : urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:8080'),
    concurrency: intFlag(v.concurrency, 'concurrency', 2, 1, 64),
    log: roleLogger('witness', v),
  }
  // whether an announced address may be private depends on the network: read only when there is one
  const announce =
    v.announce === undefined ? [] : announceFlag(v.announce, readNetworkFile(join(dir, NETWORK_FILE)))
  return { ...checked, announce }
}
