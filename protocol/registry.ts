import { compareBytes, prefix48, to0x, toHex } from './bytes.ts'
import type { Address, NetworkDefinition } from './network.ts'
import { peerIdFromString } from './peer.ts'
import type { RelayRecord } from './record.ts'

/** What the network knows of one relay: when it registered and where to pay it. */
export interface RegisteredRelay {
  relay: Uint8Array
  /** the epoch of its first certified record; -Infinity for relays in the network definition */
  registeredIn: number
  payout: Address
  /** the record that set `payout` (undefined for genesis relays that never published one) */
  record?: RelayRecord
}

/** Registered relays keyed by the hex of their PeerId bytes. */
export type Registry = ReadonlyMap<string, RegisteredRelay>

export const relayKey = (relay: Uint8Array): string => toHex(relay)

/** Whether `record` supersedes `current`: higher seq wins; equal seq (a relay contradicting itself) breaks by bytes. */
function supersedes(record: RelayRecord, current: RelayRecord | undefined): boolean {
  if (!current) return true
  if (record.seq !== current.seq) return record.seq > current.seq
  return compareBytes(record.signature, current.signature) < 0
}

// Parsing the genesis relays' PeerIds dominates rebuilding a registry with many genesis relays; a
// network definition's relay list does not change, so it is parsed once per list.
const parsedGenesis = new WeakMap<object, { relay: Uint8Array; key: string; payout: Address }[]>()
function genesisRelays(net: Pick<NetworkDefinition, 'relays'>) {
  let parsed = parsedGenesis.get(net.relays)
  if (!parsed) {
    parsed = net.relays.map(g => {
      const relay = peerIdFromString(g.peerId)
      return { relay, key: relayKey(relay), payout: g.payout }
    })
    parsedGenesis.set(net.relays, parsed)
  }
  return parsed
}

/**
 * The registry from the genesis relays and certified relay records (any order; records must be valid
 * and of this network). Pure: the same set of records gives the same registry.
 */
export function buildRegistry(
  net: Pick<NetworkDefinition, 'relays'>,
  records: Iterable<RelayRecord>,
): Registry {
  const registry = new Map<string, RegisteredRelay>()
  for (const { relay, key, payout } of genesisRelays(net)) {
    registry.set(key, { relay, registeredIn: Number.NEGATIVE_INFINITY, payout })
  }
  for (const record of records) {
    const key = relayKey(record.relay)
    const entry = registry.get(key)
    if (!entry) {
      registry.set(key, {
        relay: record.relay,
        registeredIn: record.epoch,
        payout: to0x(record.payout),
        record,
      })
      continue
    }
    entry.registeredIn = Math.min(entry.registeredIn, record.epoch)
    if (supersedes(record, entry.record)) {
      entry.record = record
      entry.payout = to0x(record.payout)
    }
  }
  return registry
}

/** A relay is eligible in `epoch` iff it registered in an epoch ≤ epoch − d. */
export function isEligible(
  entry: RegisteredRelay | undefined,
  epoch: number,
  eligibilityDelay: number,
): boolean {
  return entry !== undefined && entry.registeredIn <= epoch - eligibilityDelay
}

/** The eligible relays of an epoch, in canonical (PeerId byte) order. */
export function eligibleRelays(
  registry: Registry,
  epoch: number,
  eligibilityDelay: number,
): RegisteredRelay[] {
  // by bytes 0–5, then 6–11, then all: the same order as comparing all bytes, mostly without a native call
  return [...registry.values()]
    .filter(r => isEligible(r, epoch, eligibilityDelay))
    .map(r => ({ r, k0: prefix48(r.relay, 0), k6: prefix48(r.relay, 6) }))
    .sort((a, b) => a.k0 - b.k0 || a.k6 - b.k6 || compareBytes(a.r.relay, b.r.relay))
    .map(x => x.r)
}
