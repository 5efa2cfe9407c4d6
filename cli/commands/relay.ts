import { join } from 'node:path'
import { joinAttestations } from '../../node/network/attestations.ts'
import { loadDataDir } from '../../node/host/datadir.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { dnsServerLookup } from '../../node/relay/exit-dns.ts'
import { createHost } from '../../node/host/host.ts'
import { MonthlyQuota } from '../../node/relay/quota.ts'
import { parseBytes, parseRate } from '../../node/relay/rate.ts'
import { Relay } from '../../node/relay/relay.ts'
import { RecordPublisher } from '../../node/relay/relay-records.ts'
import { RelayDashboard } from '../../node/relay/relay-dashboard.ts'
import { LedgerEarnings } from '../../node/relay/earnings.ts'
import { Logger } from '../../node/host/log.ts'
import { startStatusServer } from '../../node/host/status-server.ts'
import { DEFAULT_LIMITS } from '../../node/relay/tunnel-server.ts'
import { parseHex } from '../../protocol/bytes.ts'
import type { Command } from '../command.ts'
import {
  type FlagSpec,
  hostPortFlag,
  intFlag,
  parseFlags,
  requireFlag,
  UsageError,
  urlFlag,
} from '../args.ts'
import { withConfigFile } from '../config.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir relay --dir DIR [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--max-bandwidth RATE]
       [--monthly-quota BYTES] [--exit-ports PORT[-PORT],...] [--exit-dns HOST:PORT]... [--allow-private-exits]
       [--max-tunnels N] [--max-tunnels-per-peer N] [--max-tunnel-memory BYTES] [--status HOST:PORT]
       [--ledger URL]

Carries tunnels for the network. Listens on 127.0.0.1 unless --listen says otherwise. RATE is e.g.
5MB/s, 500kB/s or 10Mbit/s (both directions together); BYTES e.g. 500GB. --exit-ports takes ports and
ranges (80,443,1024-65535); without it every port but 25 (SMTP) is allowed. --exit-dns resolves exit
targets with those DNS servers instead of the system resolver. --status serves /status, /metrics and a
dashboard page at / (loopback unless told otherwise); with --ledger (a ledger's HTTP API, e.g.
http://127.0.0.1:7380) the dashboard shows this relay's earnings, read every 30 s. The first line on stdout
is JSON with the peer id, the listen addresses and the status address. Every flag but --dir can also
be set in DIR/config.json (e.g. {"max-bandwidth": "5MB/s", "listen": ["/ip4/0.0.0.0/tcp/4001"]});
flags on the command line win.`

const FLAGS = {
  dir: { type: 'string' },
  listen: { type: 'string', multiple: true },
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
} as const satisfies FlagSpec

export const command: Command = {
  summary: 'run a relay: carry tunnels, publish its signed record, serve /status and /metrics',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(withConfigFile(argv, FLAGS), FLAGS)
    const dir = requireFlag(v.dir, 'dir', 'the data dir made by weir init')
    const maxBandwidthBps =
      v['max-bandwidth'] === undefined ? undefined : flagValue('max-bandwidth', v['max-bandwidth'], parseRate)
    const quotaBytes =
      v['monthly-quota'] === undefined
        ? undefined
        : flagValue('monthly-quota', v['monthly-quota'], parseBytes)
    const ports = v['exit-ports'] === undefined ? undefined : parsePorts(v['exit-ports'])
    const exitDns = (v['exit-dns'] ?? []).map(server => {
      const { host, port } = hostPortFlag(server, 'exit-dns')
      return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    })
    const lookup = exitDns.length > 0 ? dnsServerLookup(exitDns) : undefined
    const limits = {
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
    }
    const status = v.status === undefined ? undefined : hostPortFlag(v.status, 'status')
    const allowPrivate = v['allow-private-exits'] === true
    const ledger = v.ledger === undefined ? undefined : urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:7380')

    const data = loadDataDir(dir)
    const payout = data.config.payout && parseHex(data.config.payout, 20)
    if (!payout)
      throw new Error(`${join(dir, 'config.json')}: a relay needs a payout address (weir init --payout 0x…)`)
    if (allowPrivate) {
      console.error(
        'weir relay: WARNING: --allow-private-exits is on: clients can reach loopback and private networks ' +
          'through this relay. Use it for local testnets only.',
      )
    }

    const stopRequested = untilSignal()
    const host = await createHost({
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      listen: v.listen,
      bootstrap: [...data.network.bootstrap, ...(v.bootstrap ?? [])],
    })
    const directory = new RelayDirectory(host, data.network)
    directory.start()
    // Relays validate and forward attestations too (docs/witness.md), keeping equivocation evidence.
    const attestations = joinAttestations(host.services.pubsub, data.network, join(dir, 'evidence.jsonl'))
    const relay = new Relay(host, {
      networkId: data.network.id,
      privateKey: data.identity.libp2pKey,
      exitPolicy: { allowPrivate, ports },
      lookup,
      maxBandwidthBps,
      limits,
      quota: quotaBytes === undefined ? undefined : new MonthlyQuota(quotaBytes, join(dir, 'usage.json')),
      directory,
    })
    await relay.start()
    const publisher = new RecordPublisher(host, {
      network: data.network,
      identity: data.identity,
      payout,
      maxBandwidthBps: maxBandwidthBps ?? 0,
      directory,
    })
    await publisher.start()
    const log = new Logger({ role: 'relay' })
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

    const signal = await stopRequested
    console.error(`weir relay: ${signal}: closing tunnels and stopping`)
    publisher.stop()
    attestations.topic.stop()
    dashboard.stop()
    await relay.stop()
    await statusServer?.close()
    await host.stop()
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
