import { exitSummary } from '../../node/relay/exit-policy.ts'
import { join } from 'node:path'
import { joinAttestations } from '../../node/network/attestations.ts'
import { loadDataDir } from '../../node/host/datadir.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { dnsServerLookup } from '../../node/relay/exit-dns.ts'
import { createHost } from '../../node/host/host.ts'
import { openPeerKnowledge } from '../../node/host/peer-knowledge.ts'
import { parseBytes, parseRate } from '../../node/relay/rate.ts'
import { Relay, type RelaySettings } from '../../node/relay/relay.ts'
import { ProbeWatch } from '../../node/relay/relay-health.ts'
import { logReachability } from '../../node/host/reachability.ts'
import { RecordPublisher } from '../../node/relay/relay-records.ts'
import { RelayDashboard } from '../../node/relay/relay-dashboard.ts'
import { LedgerEarnings } from '../../node/relay/earnings.ts'
import { Logger, type LogLevel } from '../../node/host/log.ts'
import { startStatusServer } from '../../node/host/status-server.ts'
import { DEFAULT_LIMITS } from '../../node/relay/tunnel-server.ts'
import { parseHex } from '../../protocol/bytes.ts'
import type { Command } from '../command.ts'
import { type FlagSpec, hostPortFlag, intFlag, requireFlag, UsageError, urlFlag } from '../args.ts'
import { ANNOUNCE_FLAG, ANNOUNCE_HELP, ANNOUNCE_USAGE, announceFlag } from '../announce-flag.ts'
import { STUN_FLAG, STUN_HELP, STUN_USAGE, stunFlag } from '../stun-flag.ts'
import { type FlagValues, readSettings, type Settings } from '../config.ts'
import { LOG_FLAGS, LOG_USAGE, logFormatFlag, logLevelFlag } from '../log-flags.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir relay --dir DIR [--listen MULTIADDR]... ${ANNOUNCE_USAGE} [--no-port-mapping] ${STUN_USAGE}
       [--bootstrap MULTIADDR]... [--max-bandwidth RATE] [--monthly-quota BYTES] [--exit-ports PORT[-PORT],...]
       [--exit-dns HOST:PORT]... [--allow-private-exits] [--max-tunnels N] [--max-tunnels-per-peer N]
       [--max-tunnel-memory BYTES] [--status HOST:PORT] [--ledger URL] [--drain-seconds N] ${LOG_USAGE}

Carries tunnels for the network. Listens on 127.0.0.1 unless --listen says otherwise. RATE is e.g.
5MB/s, 500kB/s or 10Mbit/s (both directions together); BYTES e.g. 500GB. --exit-ports takes ports and
ranges (80,443,1024-65535); without it every port but 25 (SMTP) is allowed. --exit-dns resolves exit
targets with those DNS servers instead of the system resolver. --status serves /status, /metrics and a
dashboard page at / (loopback unless told otherwise); with --ledger (a ledger's HTTP API, e.g.
http://127.0.0.1:7380) the dashboard shows this relay's earnings, read every 30 s. The first line on stdout
is JSON with the peer id, the listen addresses and the status address; the log goes to stderr. Every
flag but --dir can also be set in DIR/config.json (e.g. {"max-bandwidth": "5MB/s", "listen":
["/ip4/0.0.0.0/tcp/4001"]}); flags on the command line win. SIGHUP reloads the cap, the quota, the exit
policy and the log level from the file, keeping open tunnels; SIGTERM or SIGINT stops accepting
tunnels, lets open ones finish for up to --drain-seconds (default 10), then stops.

On a network that is not local the relay publishes its record only while peers can dial it: at an
announced address, at a public address AutoNAT peers dialled back, or at a port the router mapped
through UPnP IGD (asked for unless --no-port-mapping) and AutoNAT peers dialled back, or behind a NAT
that hole punching gets through (WebRTC, signalled through a reachable relay). /status and the log say
which, or why not and what to do (docs/reachability.md). ${ANNOUNCE_HELP} ${STUN_HELP}`

const FLAGS = {
  dir: { type: 'string' },
  listen: { type: 'string', multiple: true },
  ...ANNOUNCE_FLAG,
  'no-port-mapping': { type: 'boolean', default: false },
  ...STUN_FLAG,
  bootstrap: { type: 'string', multiple: true },
  'max-bandwidth': { type: 'string' },
  'monthly-quota': { type: 'string' },
  'exit-ports': { type: 'string' },
  'exit-dns': { type: 'string', multiple: true },
  'max-tunnels': { type: 'string' },
  'max-tunnels-per-peer': { type: 'string' },
  'max-tunnel-memory': { type: 'string' },
  'allow-private-exits': { type: 'boolean', default: false },
  status: { type: 'string' },
  ledger: { type: 'string' },
  'drain-seconds': { type: 'string' },
  ...LOG_FLAGS,
} as const satisfies FlagSpec

/** The keys a SIGHUP applies; the others take effect at the next start. */
const RELOADABLE = new Set([
  'max-bandwidth',
  'monthly-quota',
  'exit-ports',
  'exit-dns',
  'allow-private-exits',
  'log-level',
])

/** What a SIGHUP can change, from validated flags. */
function reloadable(v: FlagValues<typeof FLAGS>): RelaySettings & { logLevel: LogLevel } {
  const exitDns = (v['exit-dns'] ?? []).map(server => {
    const { host, port } = hostPortFlag(server, 'exit-dns')
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  })
  const ports = v['exit-ports'] === undefined ? undefined : parsePorts(v['exit-ports'])
  return {
    exitPolicy: { allowPrivate: v['allow-private-exits'] === true, ...(ports ? { ports } : {}) },
    ...(exitDns.length > 0 ? { lookup: dnsServerLookup(exitDns) } : {}),
    ...(v['max-bandwidth'] === undefined
      ? {}
      : { maxBandwidthBps: flagValue('max-bandwidth', v['max-bandwidth'], parseRate) }),
    ...(v['monthly-quota'] === undefined
      ? {}
      : { monthlyQuotaBytes: flagValue('monthly-quota', v['monthly-quota'], parseBytes) }),
    logLevel: logLevelFlag(v['log-level']),
  }
}

function relayConfig(v: FlagValues<typeof FLAGS>) {
  return {
    dir: requireFlag(v.dir, 'dir', 'the data dir made by weir init'),
    live: reloadable(v),
    logFormat: logFormatFlag(v['log-format']),
    limits: {
      maxTunnels: intFlag(v['max-tunnels'], 'max-tunnels', DEFAULT_LIMITS.maxTunnels, 1, 100_000),
      maxTunnelsPerPeer: intFlag(
        v['max-tunnels-per-peer'],
        'max-tunnels-per-peer',
        DEFAULT_LIMITS.maxTunnelsPerPeer,
        1,
        100_000,
      ),
      maxBufferBytes:
        v['max-tunnel-memory'] === undefined
          ? DEFAULT_LIMITS.maxBufferBytes
          : flagValue('max-tunnel-memory', v['max-tunnel-memory'], parseBytes),
    },
    status: v.status === undefined ? undefined : hostPortFlag(v.status, 'status'),
    ledger: v.ledger === undefined ? undefined : urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:7380'),
    drainMs: intFlag(v['drain-seconds'], 'drain-seconds', 10, 0, 3600) * 1000,
  }
}

export const command: Command = {
  summary: 'run a relay: carry tunnels, publish its signed record, serve /status and /metrics',
  usage: USAGE,
  async run(argv) {
    const settings = readSettings(argv, FLAGS)
    const v = settings.values
    const { dir, live, logFormat, limits, status, ledger, drainMs } = settings.check(relayConfig)

    const data = loadDataDir(dir)
    const payout = data.config.payout && parseHex(data.config.payout, 20)
    if (!payout)
      throw new Error(`${join(dir, 'config.json')}: a relay needs a payout address (weir init --payout 0x…)`)
    const announce = settings.check(values => announceFlag(values.announce, data.network))
    const log = new Logger({ role: 'relay', level: live.logLevel, format: logFormat })
    const warnPrivate = (allow: boolean) => {
      if (allow)
        log.warn(
          'allow-private-exits is on: clients can reach loopback and private networks through this relay; use it for local testnets only',
        )
    }
    warnPrivate(live.exitPolicy.allowPrivate)

    const stopRequested = untilSignal()
    const bootstrap = [...data.network.bootstrap, ...(v.bootstrap ?? [])]
    const peers = await openPeerKnowledge(dir)
    const host = await createHost({
      datastore: peers,
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      listen: v.listen,
      announce,
      bootstrap,
      local: data.network.local === true,
      portMapping: v['no-port-mapping'] !== true,
      stunServers: settings.check(values => stunFlag(values.stun)),
      relay: true,
      log,
    })
    const directory = new RelayDirectory(host, data.network, Date.now, peers)
    await directory.restore()
    directory.start()
    let probes: ProbeWatch | undefined
    // Relays validate and forward attestations too (docs/witness.md), keeping equivocation evidence.
    const attestations = joinAttestations(
      host.services.pubsub,
      data.network,
      join(dir, 'evidence.jsonl'),
      a => probes?.note(a),
    )
    const relay = new Relay(host, {
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      ...live,
      usageFile: join(dir, 'usage.json'),
      limits,
      directory,
      log,
    })
    await relay.start()
    const publisher = new RecordPublisher(host, {
      network: data.network,
      identity: data.identity,
      payout,
      maxBandwidthBps: live.maxBandwidthBps ?? 0,
      exits: exitSummary(live.exitPolicy),
      directory,
    })
    await publisher.start()
    // the relay's own records never come back to it over gossip: its registry learns them here
    const learnOwnRecord = () => {
      const own = publisher.current
      if (own) attestations.registry.add(own)
    }
    learnOwnRecord()
    probes = new ProbeWatch({
      network: data.network,
      relay: data.identity.peerIdBytes,
      registryFor: epoch => {
        learnOwnRecord()
        return attestations.registry.registryFor(epoch)
      },
      seedKnown: epoch => attestations.seeds.seedOf(epoch) !== undefined,
      log,
    })
    probes.start()
    const stopWatchingReachability = logReachability(host.services.reachability, log)
    const dashboard = new RelayDashboard(relay, {
      log,
      earnings:
        ledger === undefined
          ? undefined
          : new LedgerEarnings(ledger, host.peerId.toString(), data.config.payout!, log),
    })
    dashboard.start()
    const statusServer = status && (await startStatusServer(status.host, status.port, dashboard))
    console.log(
      JSON.stringify({
        peerId: host.peerId.toString(),
        addresses: host.getMultiaddrs().map(String),
        status: statusServer?.address ?? null,
      }),
    )

    let running = settings
    const reload = () => {
      let next: Settings<typeof FLAGS>
      let changed: RelaySettings & { logLevel: LogLevel }
      try {
        next = readSettings(argv, FLAGS)
        changed = next.check(relayConfig).live
      } catch (err) {
        log.error(`reload refused, the running configuration stays: ${(err as Error).message}`)
        return
      }
      relay.reconfigure(changed)
      publisher.setMaxBandwidth(changed.maxBandwidthBps ?? 0)
      publisher.setExits(exitSummary(changed.exitPolicy))
      log.level = changed.logLevel
      const later = Object.keys(FLAGS).filter(
        key =>
          !RELOADABLE.has(key) &&
          JSON.stringify(next.values[key as keyof typeof v]) !==
            JSON.stringify(running.values[key as keyof typeof v]),
      )
      if (later.length > 0)
        log.warn(`reload: ${later.join(', ')} changed; that takes effect at the next start`)
      if (changed.exitPolicy.allowPrivate && !running.values['allow-private-exits']) warnPrivate(true)
      running = next
      log.info('configuration reloaded', {
        maxBandwidthBps: changed.maxBandwidthBps ?? null,
        monthlyQuotaBytes: changed.monthlyQuotaBytes ?? null,
        logLevel: changed.logLevel,
      })
    }
    process.on('SIGHUP', reload)

    const signal = await stopRequested
    process.off('SIGHUP', reload)
    log.info(`${signal}: no new tunnels; draining open ones`, {
      open: relay.openTunnels,
      drainSeconds: drainMs / 1000,
    })
    publisher.stop()
    probes.stop()
    stopWatchingReachability()
    attestations.topic.stop()
    dashboard.stop()
    const cut = await relay.stop(drainMs)
    if (cut > 0) log.warn('drain time over: closed the tunnels still open', { closed: cut })
    await statusServer?.close()
    await host.stop()
    await peers.close()
    log.info('stopped')
    return 0
  },
}

function flagValue(flag: string, text: string, parse: (text: string) => number): number {
  try {
    return parse(text)
  } catch (err) {
    throw new UsageError(`--${flag} ${(err as Error).message}`)
  }
}

function parsePorts(text: string): Set<number> {
  const ports = new Set<number>()
  for (const item of text.split(',').map(p => p.trim())) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item)
    const [from, to] = [Number(m?.[1]), Number(m?.[2] ?? m?.[1])]
    if (!m || from < 1 || to > 65535 || from > to) {
      throw new UsageError(
        `--exit-ports expects a comma-separated list of ports and ranges within 1-65535, got '${text}'`,
      )
    }
    for (let port = from; port <= to; port++) ports.add(port)
  }
  return ports
}
