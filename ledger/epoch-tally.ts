import { decodeAttestation } from '../protocol/attestation.ts'
import { to0x } from '../protocol/bytes.ts'
import { contentRoot } from '../protocol/content.ts'
import type { RewardLeaf } from '../protocol/merkle.ts'
import type { RelayLine, StoredTallyJson } from '../protocol/ledger-api.ts'
import type { NetworkDefinition } from '../protocol/network.ts'
import { peerIdToString } from '../protocol/peer.ts'
import { decodeRelayRecord } from '../protocol/record.ts'
import { buildRegistry } from '../protocol/registry.ts'
import { computeTally, type Tally } from '../protocol/tally.ts'
import type { LedgerStore, StoredTally } from './store.ts'

/** The leaves of a stored tally, as the `previous` cumulative amounts of the next epoch's tally. */
export function leavesOf(stored: StoredTally | undefined): RewardLeaf[] {
  if (!stored) return []
  const json = JSON.parse(stored.json) as StoredTallyJson
  return json.leaves.map(l => ({ account: l.account, amount: BigInt(l.amount) }))
}

/**
 * Tallies an epoch from the store's content with protocol/tally.ts: its attestations, the registry of
 * relay records of epochs ≤ epoch, the seed and the previous epoch's cumulative leaves.
 */
export function tallyEpoch(
  network: NetworkDefinition,
  store: LedgerStore,
  epoch: number,
  seed: Uint8Array,
  previous: readonly RewardLeaf[],
): { tally: Tally; stored: StoredTally; lines: RelayLine[] } {
  const ids = store.itemIds(epoch)
  const attestations = store.attestationBodies(epoch).map(decodeAttestation)
  const registry = buildRegistry(network, store.relayRecordsThrough(epoch).map(decodeRelayRecord))
  const tally = computeTally({
    network,
    epoch,
    seed,
    attestations,
    registry,
    previous: new Map(previous.map(l => [l.account, l.amount])),
  })
  const root = contentRoot(ids)
  const lines: RelayLine[] = tally.relays.map(r => ({
    epoch,
    peerId: peerIdToString(r.relay),
    payout: r.payout,
    capacities: r.capacities,
    score: r.score,
    reward: r.reward.toString(),
  }))
  const json: StoredTallyJson = {
    epoch,
    contentRoot: to0x(root),
    rewardsRoot: to0x(tally.rewardsRoot),
    cumulativeTotal: tally.cumulativeTotal.toString(),
    emitted: tally.emitted.toString(),
    equivocations: tally.equivocations,
    items: { attestations: attestations.length, relayRecords: ids.length - attestations.length },
    relays: lines,
    leaves: tally.leaves.map(l => ({ account: l.account, amount: l.amount.toString() })),
  }
  const stored: StoredTally = {
    epoch,
    contentRoot: root,
    rewardsRoot: tally.rewardsRoot,
    cumulativeTotal: tally.cumulativeTotal,
    itemCount: ids.length,
    json: JSON.stringify(json),
  }
  return { tally, stored, lines }
}
