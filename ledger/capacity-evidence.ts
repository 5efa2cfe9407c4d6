import { decodeAttestation } from '../protocol/attestation.ts'
import { equalBytes, to0x, toHex } from '../protocol/bytes.ts'
import { type ContentTree, contentProof, contentTree } from '../protocol/content.ts'
import type { Answer, capacityAnswer } from '../protocol/ledger-api.ts'
import { peerIdToString } from '../protocol/peer.ts'
import { itemId } from '../protocol/record.ts'
import { decodeCertificate } from '../protocol/vote.ts'
import type { LedgerStore } from './store.ts'

/** One settled epoch's content tree and where each relay's attestations sit in it. */
interface EpochProofs {
  epoch: number
  tree: ContentTree
  /** by the hex of the relay's PeerId bytes: each attestation's bytes and index in tree.ids */
  byRelay: Map<string, { bytes: Uint8Array; index: number }[]>
}

/**
 * The evidence of `GET /relays/:peerId/capacity` (protocol/certified-capacity.ts checks it): built from
 * the store's content of a settled epoch, whose root is the certified one. The epoch's tree is kept until
 * a later epoch settles, so each relay's answer costs only its proofs.
 */
export class CapacityEvidenceBook {
  private cached: EpochProofs | undefined

  constructor(private readonly store: LedgerStore) {}

  /** The relay's evidence in `epoch` (settled: certified and tallied to the certificate's roots). */
  answer(epoch: number, relay: Uint8Array): Answer<typeof capacityAnswer> {
    const stored = this.store.certificate(epoch)
    if (!stored) throw new RangeError(`epoch ${epoch} is not certified`)
    const proofs = this.proofsOf(epoch, decodeCertificate(stored.bytes).contentRoot)
    const seed = epoch >= 2 ? this.store.certificate(epoch - 2) : undefined
    if (epoch >= 2 && !seed) throw new RangeError(`the certificate of epoch ${epoch - 2} is missing`)
    return {
      peerId: peerIdToString(relay),
      epoch,
      certificate: to0x(stored.bytes),
      seedCertificate: seed ? to0x(seed.bytes) : null,
      items: proofs.tree.ids.length,
      attestations: (proofs.byRelay.get(toHex(relay)) ?? []).map(({ bytes, index }) => ({
        bytes: to0x(bytes),
        index,
        proof: contentProof(proofs.tree, index).map(to0x),
      })),
    }
  }

  private proofsOf(epoch: number, certifiedRoot: Uint8Array): EpochProofs {
    if (this.cached?.epoch === epoch) return this.cached
    const tree = contentTree(this.store.itemIds(epoch))
    if (!equalBytes(tree.root, certifiedRoot))
      throw new RangeError(`the content held for epoch ${epoch} is not the certified content`)
    const indexOf = new Map(tree.ids.map((id, i) => [toHex(id), i]))
    const byRelay = new Map<string, { bytes: Uint8Array; index: number }[]>()
    for (const bytes of this.store.attestationBodies(epoch)) {
      const index = indexOf.get(toHex(itemId('attestation', bytes)))
      if (index === undefined) continue
      const key = toHex(decodeAttestation(bytes).relay)
      const list = byRelay.get(key) ?? []
      list.push({ bytes, index })
      byRelay.set(key, list)
    }
    this.cached = { epoch, tree, byRelay }
    return this.cached
  }
}
