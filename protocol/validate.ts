import { type Attestation, decodeAttestation, verifyAttestationBytes } from './attestation.ts'
import { equalBytes, prefix48 } from './bytes.ts'
import { epochStart, graceEnd, isTimely } from './epoch.ts'
import { DecodeError } from './errors.ts'
import { assignedWitnessIndices } from './assignment.ts'
import type { NetworkDefinition } from './network.ts'
import { peerIdFromString } from './peer.ts'
import { decodeRelayRecord, type RelayRecord, verifyRelayRecord } from './record.ts'
import { isEligible, type Registry, relayKey } from './registry.ts'

/**
 * Gossip's three answers: accept (valid, forward and keep), ignore (cannot judge yet or not useful:
 * drop without blame), reject (invalid: drop and penalise the peer that sent it).
 */
export type Verdict<T> =
  | { verdict: 'accept'; value: T }
  | { verdict: 'reject'; reason: string }
  /** `waiting`: the verdict may change once the epoch's seed and registry are known */
  | { verdict: 'ignore'; reason: string; waiting?: boolean }

type EpochClock = Pick<NetworkDefinition, 'genesis' | 'epochSeconds' | 'graceSeconds'>

/**
 * How far outside its timely window (protocol/epoch.ts) a message may arrive and still be ignored rather
 * than rejected. Honest nodes judge one message at different moments (it is forwarded hop by hop) by
 * different clocks: a message one of them accepted and forwarded just before the window closed may reach
 * the next just after, and must not cost the forwarder its peer score.
 */
export const TIMELINESS_SLACK_MS = 30_000

/**
 * The one timeliness rule for everything gossiped about an epoch (attestations, relay records), used by
 * every role that validates them: accept while the epoch is timely, ignore within TIMELINESS_SLACK_MS of
 * that window, reject beyond it (stale or from the future: nobody honest forwards it).
 */
export function timeliness(net: EpochClock, epoch: number, nowMs: number): 'accept' | 'ignore' | 'reject' {
  if (isTimely(net, epoch, nowMs)) return 'accept'
  const near =
    epoch >= 0 &&
    epochStart(net, epoch) - TIMELINESS_SLACK_MS <= nowMs &&
    nowMs < graceEnd(net, epoch) + TIMELINESS_SLACK_MS
  return near ? 'ignore' : 'reject'
}

export interface AttestationContext {
  network: NetworkDefinition
  nowMs: number
  /** the epoch's seed, or undefined while the certificate it derives from is unknown */
  seedOf(epoch: number): Uint8Array | undefined
  /** the registry that decides eligibility in the epoch, or undefined while unknown */
  registryFor(epoch: number): Registry | undefined
  /**
   * The signature check, verifyAttestation (on the received bytes) unless given. Only the simulator replaces it, when a scenario
   * skips cryptography for scale; every other check still runs.
   */
  verify?: (a: Attestation) => boolean
}

// per network: witness PeerId bytes bucketed by 48 bits of their public key → canonical indices
const witnessIndexes = new WeakMap<NetworkDefinition, { ids: Uint8Array[]; buckets: Map<number, number[]> }>()

/** The position of a witness in the network's canonical witness list, or undefined if not a witness. */
export function witnessIndex(network: NetworkDefinition, witness: Uint8Array): number | undefined {
  let index = witnessIndexes.get(network)
  if (!index) {
    const ids = network.witnesses.map(peerIdFromString)
    const buckets = new Map<number, number[]>()
    ids.forEach((id, i) => {
      const key = prefix48(id, 6)
      buckets.set(key, [...(buckets.get(key) ?? []), i])
    })
    index = { ids, buckets }
    witnessIndexes.set(network, index)
  }
  const candidates = index.buckets.get(prefix48(witness, 6))
  if (!candidates) return undefined
  for (const i of candidates) if (equalBytes(index.ids[i] as Uint8Array, witness)) return i
  return undefined
}

/** Everything about an attestation except "have I seen it before" (the caller's state). */
export function validateAttestation(bytes: Uint8Array, ctx: AttestationContext): Verdict<Attestation> {
  let a: Attestation
  try {
    a = decodeAttestation(bytes)
  } catch (err) {
    if (err instanceof DecodeError) return { verdict: 'reject', reason: `undecodable: ${err.message}` }
    throw err
  }
  const net = ctx.network
  if (a.net !== net.id) return { verdict: 'reject', reason: 'another network' }
  const timely = timeliness(net, a.epoch, ctx.nowMs)
  if (timely === 'reject') return { verdict: 'reject', reason: `epoch ${a.epoch} is stale or future` }
  const index = witnessIndex(net, a.witness)
  if (index === undefined) return { verdict: 'reject', reason: 'not from a witness of this network' }
  if (equalBytes(a.relay, a.helper) || equalBytes(a.relay, a.witness)) {
    return { verdict: 'reject', reason: 'helper or witness is the relay itself' }
  }
  if (!(ctx.verify ? ctx.verify(a) : verifyAttestationBytes(a, bytes)))
    return { verdict: 'reject', reason: 'bad signature' }
  if (timely === 'ignore') return { verdict: 'ignore', reason: `epoch ${a.epoch} is just outside its window` }
  const seed = ctx.seedOf(a.epoch)
  const registry = ctx.registryFor(a.epoch)
  if (!seed || !registry) {
    return { verdict: 'ignore', reason: `seed of epoch ${a.epoch} not known yet`, waiting: true }
  }
  if (!isEligible(registry.get(relayKey(a.relay)), a.epoch, net.eligibilityDelay)) {
    return { verdict: 'reject', reason: 'relay not eligible in this epoch' }
  }
  const assigned = assignedWitnessIndices(seed, a.relay, net.witnesses.length, net.witnessesPerRelay)
  if (!assigned.includes(index)) return { verdict: 'reject', reason: 'witness not assigned to this relay' }
  return { verdict: 'accept', value: a }
}

/** A relay record is valid gossip if well-formed, self-signed, of this network and published this epoch. */
export function validateRelayRecord(
  bytes: Uint8Array,
  ctx: { network: Pick<NetworkDefinition, 'id'> & EpochClock; nowMs: number },
): Verdict<RelayRecord> {
  let r: RelayRecord
  try {
    r = decodeRelayRecord(bytes)
  } catch (err) {
    if (err instanceof DecodeError) return { verdict: 'reject', reason: `undecodable: ${err.message}` }
    throw err
  }
  if (r.net !== ctx.network.id) return { verdict: 'reject', reason: 'another network' }
  const timely = timeliness(ctx.network, r.epoch, ctx.nowMs)
  if (timely === 'reject') return { verdict: 'reject', reason: `epoch ${r.epoch} is stale or future` }
  if (!verifyRelayRecord(r)) return { verdict: 'reject', reason: 'bad signature' }
  if (timely === 'ignore') return { verdict: 'ignore', reason: `epoch ${r.epoch} is just outside its window` }
  return { verdict: 'accept', value: r }
}
