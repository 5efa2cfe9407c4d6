import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { RelayDirectory } from '../../node/network/directory.ts'
import { createHost, peerIdOfAddress } from '../../node/host/host.ts'
import { isDialableAddress } from '../../node/host/reachability.ts'
import { startStatusServer } from '../../node/host/status-server.ts'
import type { Candidate } from '../../node/proxy/circuit-choice.ts'
import { startHttpConnectServer } from '../../node/proxy/http-connect.ts'
import { CertifiedCapacities } from '../../node/proxy/certified-capacities.ts'
import { circuitConnect, learnNetworkId, peerOf } from '../../node/proxy/proxy.ts'
import { RelayHealth } from '../../node/proxy/relay-health.ts'
import { ProxySession } from '../../node/proxy/session.ts'
import { startSocksServer } from '../../node/proxy/socks5.ts'
import { readNetworkFile } from '../../node/host/datadir.ts'
import type { Command } from '../command.ts'
import { type FlagSpec, hostPortFlag, UsageError, urlFlag } from '../args.ts'
import { type FlagValues, readSettings } from '../config.ts'
import { LOG_FLAGS, LOG_USAGE, roleLogger } from '../log-flags.ts'
import { untilSignal } from '../shutdown.ts'
import { STUN_FLAG, STUN_HELP, STUN_USAGE, stunFlag } from '../stun-flag.ts'

const USAGE = `weir proxy [--socks HOST:PORT] [--http HOST:PORT] [--status HOST:PORT] [--listen-public]
       [--relay MULTIADDR]... [--hops 1|2] [--bootstrap MULTIADDR]... [--network FILE] [--ledger URL]
       [--dir DIR] ${STUN_USAGE} ${LOG_USAGE}

A local proxy that sends each connection through 1 or 2 relays: a SOCKS5 server (--socks; no auth,
CONNECT, names resolved at the exit) and/or an HTTP proxy (--http; CONNECT only). Relays are the
--relay ones if given, else those found through the network whose records are current, drawn in
proportion to their latest certified capacity: with --ledger (and --network, whose committee certifies
them) the proxy fetches each relay's attestations with their Merkle proofs and certificates and checks
them itself; a relay without a verified figure weighs as the median one. A connection whose relay fails
before the tunnel is open is retried on other relays (up to 3, within 10 s) before the client gets a
reply; failed relays are skipped for a back-off that doubles with each failure. --status serves
/status (JSON) and /metrics. Listeners must be on loopback unless --listen-public is given. Without
--network, the network is the one the first relay or bootstrap peer serves. The first line on stdout
is JSON with the listeners' addresses; the log goes to stderr. With --dir, every other flag can also be
set in DIR/config.json (the proxy keeps nothing else there); flags on the command line win. Relays behind
NATs are reached by hole punching: ${STUN_HELP}`

const FLAGS = {
  dir: { type: 'string' },
  network: { type: 'string' },
  socks: { type: 'string' },
  http: { type: 'string' },
  status: { type: 'string' },
  'listen-public': { type: 'boolean', default: false },
  relay: { type: 'string', multiple: true },
  hops: { type: 'string', default: '1' },
  bootstrap: { type: 'string', multiple: true },
  ledger: { type: 'string' },
  ...STUN_FLAG,
  ...LOG_FLAGS,
} as const satisfies FlagSpec

/** A relay whose record is this many epochs behind the current one is taken for gone. */
const MAX_RECORD_AGE_EPOCHS = 2

export const command: Command = {
  summary: 'a local SOCKS5 and HTTP CONNECT proxy that tunnels each connection through 1 or 2 relays',
  usage: USAGE,
  async run(argv) {
    const settings = readSettings(argv, FLAGS)
    const v = settings.values
    const { socks, http, status, hops, pinned, ledgerUrl, log } = settings.check(proxyConfig)

    const stopRequested = untilSignal()
    const bootstrap = [...(v.bootstrap ?? []), ...pinned.map(String)]
    const network = v.network === undefined ? undefined : readNetworkFile(v.network)
    if (ledgerUrl !== undefined && network === undefined) {
      throw new UsageError(
        '--ledger needs --network FILE: its committee is what certifies the capacities a ledger serves',
      )
    }
    bootstrap.push(...(network?.bootstrap ?? []))
    const first = bootstrap[0]
    if (network === undefined && first === undefined) {
      throw new UsageError('give --relay or --bootstrap (or --network with bootstrap peers) to find relays')
    }
    const networkId =
      network?.id ??
      (await learnNetworkId(multiaddr(first as string), { signal: AbortSignal.timeout(15_000) }))
    // Without --network the proxy knows only the peer it learnt the network from: one at a loopback or
    // private address is on a local network.
    const local = network ? network.local === true : !isDialableAddress(multiaddr(first as string))
    const host = await createHost({
      networkId,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap,
      local,
      stunServers: settings.check(values => stunFlag(values.stun)),
      log,
    })
    const directory = new RelayDirectory(host, network ?? networkId)
    directory.start()
    const stopDiscovering = directory.keepDiscovering(30_000)
    const pinnedById = new Map(pinned.map(addr => [peerOf(addr), addr]))
    const relayIds = () =>
      pinnedById.size > 0 ? [...pinnedById.keys()] : directory.fresh(MAX_RECORD_AGE_EPOCHS).map(r => r.peerId)
    const capacities =
      ledgerUrl === undefined || network === undefined
        ? undefined
        : new CertifiedCapacities(ledgerUrl, network, relayIds, log)
    capacities?.start()
    const candidates = (): Candidate[] =>
      relayIds().map(peerId => ({
        peerId,
        capacityBps: capacities?.get(peerId),
        exits: directory.get(peerId)?.record.exits,
      }))
    const health = new RelayHealth()
    const session = new ProxySession({ peerId: host.peerId.toString(), hops }, health)
    const connect = circuitConnect({
      host,
      networkId,
      hops,
      candidates,
      pinned: pinnedById,
      health,
      session,
      log,
    })
    const socksServer = socks && (await startSocksServer({ ...socks, connect }))
    const httpServer = http && (await startHttpConnectServer({ ...http, connect }))
    const statusServer = status && (await startStatusServer(status.host, status.port, session))
    const text = (a?: { host: string; port: number }) =>
      a === undefined ? null : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
    console.log(
      JSON.stringify({
        socks: text(socksServer?.address),
        http: text(httpServer?.address),
        status: statusServer?.address ?? null,
        peerId: host.peerId.toString(),
      }),
    )

    const signal = await stopRequested
    log.info(`${signal}: closing connections and stopping`)
    stopDiscovering()
    capacities?.stop()
    await Promise.all([socksServer?.close(), httpServer?.close(), statusServer?.close()])
    await host.stop()
    return 0
  },
}

function proxyConfig(v: FlagValues<typeof FLAGS>) {
  const log = roleLogger('proxy', v)
  const listen = (flag: 'socks' | 'http' | 'status') => {
    const text = v[flag]
    if (text === undefined) return undefined
    const address = hostPortFlag(text, flag)
    if (!v['listen-public'] && !isLoopback(address.host)) {
      const risk = flag === 'status' ? 'see what your proxy carries' : 'use your proxy'
      throw new UsageError(
        `--${flag} ${text} is not a loopback address: anyone who reaches it could ${risk}; give --listen-public to mean it`,
      )
    }
    return address
  }
  const socks = listen('socks')
  const http = listen('http')
  const status = listen('status')
  if (socks === undefined && http === undefined) {
    throw new UsageError('give --socks HOST:PORT or --http HOST:PORT (or both) to listen on')
  }
  if (v.hops !== '1' && v.hops !== '2') throw new UsageError(`--hops expects 1 or 2, got '${v.hops}'`)
  const hops = Number(v.hops)
  const pinned = (v.relay ?? []).map(text => relayAddress(text))
  if (pinned.length > 0 && pinned.length < hops) {
    throw new UsageError(
      `--hops ${hops} needs at least ${hops} --relay addresses (or none, to discover relays)`,
    )
  }
  const ledgerUrl = v.ledger === undefined ? undefined : urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:7380')
  return { socks, http, status, hops, pinned, ledgerUrl, log }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

function relayAddress(text: string): Multiaddr {
  let addr: Multiaddr
  try {
    addr = multiaddr(text)
  } catch {
    throw new UsageError(`--relay expects a multiaddr ending in /p2p/<peerId>, got '${text}'`)
  }
  if (peerIdOfAddress(addr) === undefined) {
    throw new UsageError(`--relay expects a multiaddr ending in /p2p/<peerId>, got '${text}'`)
  }
  return addr
}
