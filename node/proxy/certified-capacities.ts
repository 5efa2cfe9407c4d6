import {
  type CertifiedCapacity,
  evidenceOf,
  verifyCapacityEvidence,
} from '../../protocol/certified-capacity.ts'
import { epochAt } from '../../protocol/epoch.ts'
import { capacityAnswer, parseAnswer } from '../../protocol/ledger-api.ts'
import type { NetworkDefinition } from '../../protocol/network.ts'
import { peerIdFromString } from '../../protocol/peer.ts'
import type { Logger } from '../host/log.ts'

const CHECK_EVERY_MS = 30_000
/** A relay's figure changes once an epoch: it is asked for again after this long. */
const REASK_MS = 5 * 60_000
const TIMEOUT_MS = 10_000
/** An answer holds a handful of attestations with their proofs and two certificates: far less than this. */
const MAX_ANSWER_BYTES = 256 * 1024

/**
 * Relays' latest certified capacities, each checked here rather than taken on a ledger's word: the ledger
 * serves a relay's attestations with their proofs and certificates (`GET /relays/:peerId/capacity`), and
 * protocol/certified-capacity.ts verifies them against the network's committee and computes the score as
 * the tally does. A relay whose evidence does not verify, is older than the network's certification lag
 * allows, or scores 0 (too few attestations) has no figure: it weighs as unmeasured. Why is logged once
 * per relay and reason.
 */
export class CertifiedCapacities {
  private readonly figures = new Map<string, { score: number | undefined; askedAt: number }>()
  private timer: NodeJS.Timeout | undefined
  private readonly base: string

  constructor(
    ledger: string,
    private readonly network: NetworkDefinition,
    /** the relays to know figures of, asked afresh on every round */
    private readonly relays: () => string[],
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.base = ledger.replace(/\/+$/, '')
  }

  get(peerId: string): number | undefined {
    return this.figures.get(peerId)?.score
  }

  /** Asks now, then every 30 s for relays never asked or last asked five minutes ago. */
  start(everyMs = CHECK_EVERY_MS): void {
    void this.refresh()
    this.timer = setInterval(() => void this.refresh(), everyMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** One round: the relays due, one after another; a ledger that cannot be read ends the round. */
  async refresh(): Promise<void> {
    for (const peerId of this.relays()) {
      const known = this.figures.get(peerId)
      if (known && this.now() - known.askedAt < REASK_MS) continue
      let verdict: CertifiedCapacity
      try {
        verdict = await this.ask(peerId)
      } catch (err) {
        this.log.problem(
          'ledger',
          `cannot read relay capacities from the ledger: ${(err as Error).message}`,
          'check --ledger; meanwhile the figures last verified (if any) weigh the relays',
          { ledger: this.base },
        )
        return
      }
      this.log.resolved('ledger', 'the ledger answers again', { ledger: this.base })
      this.record(peerId, verdict)
    }
  }

  private record(peerId: string, verdict: CertifiedCapacity): void {
    const key = `capacity ${peerId}`
    if (verdict.ok && verdict.score > 0) {
      this.figures.set(peerId, { score: verdict.score, askedAt: this.now() })
      const fields = { relay: peerId, epoch: verdict.epoch, score: verdict.score }
      this.log.resolved(key, 'relay capacity verified', fields)
      return
    }
    this.figures.set(peerId, { score: undefined, askedAt: this.now() })
    const reason = verdict.ok
      ? `it scored 0 in epoch ${verdict.epoch} (${verdict.attestations} attestations shown)`
      : verdict.reason
    this.log.problem(
      key,
      `no certified capacity for a relay, so it weighs as unmeasured: ${reason}`,
      'none needed: the relay is still used',
      { relay: peerId },
    )
  }

  /** The ledger's evidence for one relay, verified. Throws only when the ledger cannot be read at all. */
  private async ask(peerId: string): Promise<CertifiedCapacity> {
    const url = `${this.base}/relays/${peerId}/capacity`
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    const text = await boundedText(res, MAX_ANSWER_BYTES)
    if (res.status === 404 || res.status === 503)
      return { ok: false, reason: `the ledger has none: ${errorOf(text) ?? res.status}` }
    if (!res.ok) throw new Error(`${url} answered ${res.status}`)
    try {
      const relay = peerIdFromString(peerId)
      const answer = parseAnswer(capacityAnswer, JSON.parse(text), url)
      if (answer.peerId !== peerId) return { ok: false, reason: `the ledger answered for ${answer.peerId}` }
      const notBefore = epochAt(this.network, this.now()) - maxLagEpochs(this.network)
      return verifyCapacityEvidence(this.network, evidenceOf(relay, answer), notBefore)
    } catch (err) {
      return { ok: false, reason: `the ledger's evidence is unreadable: ${(err as Error).message}` }
    }
  }
}

/**
 * How many epochs the latest settled one may trail the current one: an epoch is certified after its
 * grace period, the one after it is under way meanwhile, and one more epoch allows for a slow committee.
 */
export function maxLagEpochs(network: Pick<NetworkDefinition, 'epochSeconds' | 'graceSeconds'>): number {
  return 2 + Math.ceil(network.graceSeconds / network.epochSeconds)
}

function errorOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: string }).error
  } catch {
    return undefined
  }
}

/** The body as text, refusing one longer than `max` bytes without reading the rest. */
async function boundedText(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader()
  if (!reader) return ''
  const chunks: Uint8Array[] = []
  let length = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    length += value.length
    if (length > max) {
      await reader.cancel().catch(() => {})
      throw new Error(`the answer is longer than ${max} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
