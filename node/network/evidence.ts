import { appendFileSync } from 'node:fs'
import { toHex } from '../../protocol/bytes.ts'
import type { Attestation } from '../../protocol/attestation.ts'
import { peerIdToString } from '../../protocol/peer.ts'

/** One line of the evidence log: two different signed attestations for one (epoch, relay, witness). */
export interface EquivocationEvidence {
  kind: 'equivocation'
  epoch: number
  relay: string
  witness: string
  /** the two attestations as hex of their encoded bytes, in the order we saw them */
  first: string
  second: string
  /** unix ms */
  seenAt: number
}

/**
 * An append-only JSON-lines file of equivocation evidence (the ledger keeps its own in SQLite).
 * Without a path it only keeps the evidence in memory.
 */
export class EvidenceLog {
  readonly entries: EquivocationEvidence[] = []

  constructor(private readonly path?: string) {}

  equivocation(a: Attestation, first: Uint8Array, second: Uint8Array, seenAt: number): EquivocationEvidence {
    const entry: EquivocationEvidence = {
      kind: 'equivocation',
      epoch: a.epoch,
      relay: peerIdToString(a.relay),
      witness: peerIdToString(a.witness),
      first: toHex(first),
      second: toHex(second),
      seenAt,
    }
    this.entries.push(entry)
    if (this.path) appendFileSync(this.path, `${JSON.stringify(entry)}\n`)
    return entry
  }
}
