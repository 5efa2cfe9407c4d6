import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { chooseRelays } from './circuit-choice.ts'
import type { RelayDirectory } from '../network/directory.ts'
import { createHost, type Host, peerIdOfAddress } from '../host/host.ts'
import { type SocksConnect, SocksReply } from './socks5.ts'
import { openCircuit, type RelayRef, TunnelRefusedError } from '../tunnel/client.ts'
import { socksReply } from '../tunnel/wire.ts'

export interface ProxyRouteOptions {
  host: Host
  networkId: string
  directory: RelayDirectory
  /** Relays the user named; when given, circuits use only these. */
  pinned: Multiaddr[]
  hops: number
}

/**
 * The `connect` of `weir proxy`'s SOCKS5 server: each connection gets its own circuit through `hops`
 * relays chosen by measured capacity, and a relay's refusal becomes the matching SOCKS5 reply.
 */
export function circuitConnect(options: ProxyRouteOptions): SocksConnect {
  const { host, networkId, directory, hops } = options
  const pinned = new Map(options.pinned.map(addr => [peerOf(addr), addr]))
  return async (target, signal) => {
    const candidates =
      pinned.size > 0
        ? [...pinned.keys()].map(peerId => ({ peerId, capacityBps: directory.get(peerId)?.capacityBps }))
        : directory.list()
    let relays: RelayRef[]
    try {
      relays = chooseRelays(candidates, hops).map(peerId => pinned.get(peerId) ?? peerIdFromString(peerId))
    } catch {
      return { ok: false, reply: SocksReply.GeneralFailure }
    }
    try {
      const stream = await openCircuit(host, networkId, relays, target, { signal })
      return { ok: true, stream }
    } catch (err) {
      const reply = err instanceof TunnelRefusedError ? socksReply(err.code) : SocksReply.GeneralFailure
      return { ok: false, reply: reply as SocksReply }
    }
  }
}

function peerOf(addr: Multiaddr): string {
  const id = peerIdOfAddress(addr)
  if (id === undefined) throw new RangeError(`relay address ${addr} has no /p2p/<peerId>`)
  return id
}

/**
 * Asks a relay which Weir network it serves (from the protocols it announces through identify), so
 * `weir proxy` needs nothing but a relay's address. Uses a throwaway identity and host.
 */
export async function learnNetworkId(
  relay: Multiaddr,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const probe = await createHost({ networkId: 'probe', privateKey: await generateKeyPair('Ed25519') })
  try {
    const protocols = await new Promise<string[]>((resolve, reject) => {
      probe.addEventListener('peer:identify', evt => resolve(evt.detail.protocols))
      options.signal?.addEventListener('abort', () => reject(options.signal?.reason))
      probe.dial(relay, options).catch(reject)
    })
    for (const protocol of protocols) {
      const m = /^\/weir\/([^/]+)\/tunnel\/1\.0\.0$/.exec(protocol)
      if (m?.[1]) return m[1]
    }
    throw new Error(`${relay} is not a Weir relay (it announces no /weir/<net>/tunnel protocol)`)
  } finally {
    await probe.stop()
  }
}
