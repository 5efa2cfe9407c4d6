import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { createDialer, type HolePunching, type Host } from '../node/host/host.ts'
import { addressesOf } from './circuit.ts'
import { type Locate, machineOfAddress } from './colocation.ts'

const PARALLEL_DIALS = 8
const DIAL_TIMEOUT_MS = 5000

/**
 * Locates relays by reaching them: a fresh dial-only identity (so a relay cannot answer witnesses
 * differently from anyone else) dials each relay at the addresses the witness's host knows, and the
 * machine is the remote address of the connection it got, whose Noise handshake proved the relay's key.
 * An address a record merely names counts for nothing: only where the relay was actually reached.
 */
export function dialLocate(host: Host, punching?: HolePunching): Locate {
  return async (relays, signal) => {
    const dialer = await createDialer(await generateKeyPair('Ed25519'), punching)
    const machines = new Map<string, string>()
    const queue = [...relays]
    const worker = async () => {
      for (let relay = queue.shift(); relay !== undefined && !signal.aborted; relay = queue.shift()) {
        const peer = peerIdFromString(relay)
        const dialSignal = AbortSignal.any([signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)])
        try {
          await dialer.peerStore.merge(peer, { multiaddrs: await addressesOf(host, peer, dialSignal) })
          const connection = await dialer.dial(peer, { signal: dialSignal })
          const machine = machineOfAddress(connection.remoteAddr)
          if (machine !== undefined) machines.set(relay, machine)
          await connection.close().catch(() => {})
        } catch {
          // unreachable now: the witness tries again when the relay's probe is due
        }
      }
    }
    try {
      await Promise.all(Array.from({ length: PARALLEL_DIALS }, worker))
    } finally {
      await dialer.stop()
    }
    return machines
  }
}
