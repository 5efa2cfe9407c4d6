import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { RelayDirectory } from '../../node/network/directory.ts'
import { createHost, peerIdOfAddress } from '../../node/host/host.ts'
import { circuitConnect, learnNetworkId } from '../../node/proxy/proxy.ts'
import { startSocksServer } from '../../node/proxy/socks5.ts'
import { readNetworkFile } from '../../node/host/datadir.ts'
import type { Command } from '../command.ts'
import { type FlagSpec, hostPortFlag, requireFlag, UsageError } from '../args.ts'
import { type FlagValues, readSettings } from '../config.ts'
import { LOG_FLAGS, LOG_USAGE, roleLogger } from '../log-flags.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir proxy --socks HOST:PORT [--relay MULTIADDR]... [--hops 1|2] [--bootstrap MULTIADDR]...
       [--network FILE] [--dir DIR] ${LOG_USAGE}

A local SOCKS5 server (no auth, CONNECT; names are resolved at the exit) that sends each connection
through 1 or 2 relays: the --relay ones if given, else those found through the network. Without
--network, the network is the one the first relay or bootstrap peer serves. The first line on
stdout is JSON with the SOCKS address; the log goes to stderr. With --dir, every other flag can also be
set in DIR/config.json (the proxy keeps nothing else there); flags on the command line win.`

const FLAGS = {
  dir: { type: 'string' },
  network: { type: 'string' },
  socks: { type: 'string' },
  relay: { type: 'string', multiple: true },
  hops: { type: 'string', default: '1' },
  bootstrap: { type: 'string', multiple: true },
  ...LOG_FLAGS,
} as const satisfies FlagSpec

export const command: Command = {
  summary: 'a local SOCKS5 proxy that tunnels each connection through 1 or 2 relays',
  usage: USAGE,
  async run(argv) {
    const settings = readSettings(argv, FLAGS)
    const v = settings.values
    const { socks, hops, pinned, log, network } = settings.check(proxyConfig)

    const stopRequested = untilSignal()
    const bootstrap = [...(v.bootstrap ?? []), ...pinned.map(String)]
    bootstrap.push(...(network?.bootstrap ?? []))
    const first = bootstrap[0]
    if (network === undefined && first === undefined) {
      throw new UsageError('give --relay or --bootstrap (or --network with bootstrap peers) to find relays')
    }
    const networkId =
      network?.id ??
      (await learnNetworkId(multiaddr(first as string), { signal: AbortSignal.timeout(15_000) }))
    const host = await createHost({ networkId, privateKey: await generateKeyPair('Ed25519'), bootstrap, log })
    const directory = new RelayDirectory(host, network ?? networkId)
    directory.start()
    const stopDiscovering = directory.keepDiscovering(30_000)
    const server = await startSocksServer({
      host: socks.host,
      port: socks.port,
      connect: circuitConnect({ host, networkId, directory, pinned, hops }),
    })
    console.log(
      JSON.stringify({
        socks: `${server.address.host}:${server.address.port}`,
        peerId: host.peerId.toString(),
      }),
    )

    const signal = await stopRequested
    log.info(`${signal}: closing connections and stopping`)
    stopDiscovering()
    await server.close()
    await host.stop()
    return 0
  },
}

function proxyConfig(v: FlagValues<typeof FLAGS>) {
  const socks = hostPortFlag(requireFlag(v.socks, 'socks', 'HOST:PORT to serve SOCKS5 on'), 'socks')
  if (v.hops !== '1' && v.hops !== '2') throw new UsageError(`--hops expects 1 or 2, got '${v.hops}'`)
  const hops = Number(v.hops)
  const pinned = (v.relay ?? []).map(text => relayAddress(text))
  if (pinned.length > 0 && pinned.length < hops) {
    throw new UsageError(
      `--hops ${hops} needs at least ${hops} --relay addresses (or none, to discover relays)`,
    )
  }
  const network = v.network === undefined ? undefined : readNetworkFile(v.network)
  return { socks, hops, pinned, network, log: roleLogger('proxy', v) }
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
