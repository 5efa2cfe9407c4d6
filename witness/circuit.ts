import { peerIdFromString } from '@libp2p/peer-id'
import type { Host } from '../node/host/host.ts'
import { openCircuit, TunnelRefusedError } from '../node/tunnel/client.ts'
import { CircuitError, HelperError } from './probe.ts'
import type { CircuitOpener } from './witness.ts'

/**
 * Probe circuits over the relay network: witness → helper → target → sink, so the target sees an
 * ordinary 2-hop tunnel arriving from another relay. A failure to reach or use the helper is the
 * helper's (HelperError: try another); the helper failing to reach the target, or the target refusing
 * to exit, is the target's (CircuitError, attested).
 */
export function relayCircuits(host: Host, networkId: string): CircuitOpener {
  return async (helper, target, sink, signal) => {
    try {
      return await openCircuit(
        host,
        networkId,
        [peerIdFromString(helper), peerIdFromString(target)],
        { host: sink.host, port: sink.port },
        { signal },
      )
    } catch (err) {
      if (!(err instanceof TunnelRefusedError))
        throw new HelperError(`helper ${helper}: ${(err as Error).message}`)
      if (err.hop === 0 && err.code === 'hop-failed') throw new CircuitError('unreachable', err.message)
      if (err.hop === 0) throw new HelperError(`helper ${helper} answered '${err.code}'`)
      throw new CircuitError('refused', `target answered '${err.code}'`)
    }
  }
}
