import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { toHex } from '../protocol/bytes.ts'

// Stand-in for node/host.ts (being written on the relay branch) with the same names, so switching is
// an import change: tcp + noise + yamux + identify + ping + kad-dht (peer routing) + gossipsub.

const BOOTSTRAP_RETRY_MS = 2_000

export interface HostOptions {
  networkId: string
  privateKey: PrivateKey
  listen?: string[]
  bootstrap?: string[]
}

export function protocolId(networkId: string, name: string): string {
  return `/weir/${networkId}/${name}/1.0.0`
}

export function topic(networkId: string, name: string): string {
  return `weir/${networkId}/${name}/1`
}

export async function createHost(options: HostOptions) {
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // A busy node reads gossip late; yamux's 4 MiB read buffer default then aborts the stream and
    // everything queued on it is lost, so allow as much as the largest window (node/host.ts does too).
    streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: 32 * 1024 * 1024 } })],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: protocolId(options.networkId, 'kad'), clientMode: false }),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        // Spot copies of a message already seen (from + seqno, the default message id) before
        // verifying their signature again: under load each copy otherwise costs a verification.
        fastMsgIdFn: msg => `${toHex(msg.from ?? new Uint8Array())}/${toHex(msg.seqno ?? new Uint8Array())}`,
      }),
    },
  })
  keepBootstrapped(node, options.bootstrap ?? [])
  return node
}

export type Host = Awaited<ReturnType<typeof createHost>>

function keepBootstrapped(node: Host, addresses: string[]): void {
  if (addresses.length === 0) return
  const targets = addresses.map(a => multiaddr(a))
  const dialAll = () => {
    for (const target of targets) {
      const peer = target.getComponents().findLast(c => c.name === 'p2p')?.value
      if (peer !== undefined && node.getConnections().some(c => c.remotePeer.toString() === peer)) continue
      node.dial(target).catch(() => {})
    }
  }
  dialAll()
  const timer = setInterval(dialAll, BOOTSTRAP_RETRY_MS)
  timer.unref()
  node.addEventListener('stop', () => clearInterval(timer), { once: true })
}

export function dialableAddresses(node: Host): string[] {
  return node.getMultiaddrs().map(a => a.toString())
}
