import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createDialer, type HolePunching, type Host } from '../node/host/host.ts'
import { openCircuit, TunnelRefusedError } from '../node/tunnel/client.ts'
import { CircuitError, HelperError } from './probe.ts'
import type { ProbeCircuits } from './witness.ts'

/**
 * Probe circuits over the relay network: witness → helper → target → sink, so the target sees an
 * ordinary 2-hop tunnel arriving from another relay. Each call makes a fresh identity (a dial-only
 * libp2p node with a new key) for one probe attempt's circuits, so no two probes enter the network as
 * the same peer, and none as the witness; the witness's host only lends the relays' addresses.
 *
 * Failures are attributed to the hop that caused them. Failing to reach or use the helper is the
 * helper's (HelperError: try another). Everything beyond — the helper saying it cannot reach the target,
 * or a refusal it relays from the target — is only the helper's word (the reply travels through it), so
 * it is a CircuitError, which the witness charges to the target only once unrelated helpers agree.
 */
export function relayCircuits(
  host: Host,
  networkId: string,
  punching?: HolePunching,
): () => Promise<ProbeCircuits> {
  return async () => {
    const dialer = await createDialer(await generateKeyPair('Ed25519'), punching)
    return {
      open: async (helper, target, sink, signal) => {
        const helperId = peerIdFromString(helper)
        try {
          await dialer.peerStore.merge(helperId, { multiaddrs: await addressesOf(host, helperId, signal) })
          return await openCircuit(
            dialer,
            networkId,
            [helperId, peerIdFromString(target)],
            { host: sink.host, port: sink.port },
            { signal },
          )
        } catch (err) {
          if (!(err instanceof TunnelRefusedError))
            throw new HelperError(`helper ${helper}: ${(err as Error).message}`)
          if (err.hop === 0 && err.code === 'hop-failed')
            throw new CircuitError('unreachable', `helper ${helper} said it could not reach the target`)
          if (err.hop === 0) throw new HelperError(`helper ${helper} answered '${err.code}'`)
          throw new CircuitError('refused', `the target answered '${err.code}' (relayed by ${helper})`)
        }
      },
      close: async () => {
        await dialer.stop()
      },
    }
  }
}

/**
 * Where to reach a relay: the addresses the witness's host knows (from relay records and identify), or
 * failing those (just after start, before the bootstrap dials are through) where its connection to
 * the relay goes. The witness's host keeps connections to relays anyway (records, gossip).
 */
export async function addressesOf(host: Host, relay: PeerId, signal: AbortSignal): Promise<Multiaddr[]> {
  const known = await host.peerStore.get(relay).catch(() => undefined)
  if (known !== undefined && known.addresses.length > 0) return known.addresses.map(a => a.multiaddr)
  return [(await host.dial(relay, { signal })).remoteAddr]
}
