import { type MessagePort, MessageChannel, receiveMessageOnPort, type Worker } from 'node:worker_threads'
import { decodeAttestation } from '../protocol/attestation.ts'
import { contentRoot } from '../protocol/content.ts'
import type { Address, NetworkDefinition } from '../protocol/network.ts'
import { itemId, type RelayRecord } from '../protocol/record.ts'
import { buildRegistry } from '../protocol/registry.ts'
import { computeTally } from '../protocol/tally.ts'
import { moduleWorker } from './threads.ts'

/** An epoch's reconciled content, as the honest ledger members hold it after the grace period. */
export interface CloseJob {
  epoch: number
  seed: Uint8Array
  /** the accepted attestations' canonical bytes, back to back */
  attestations: Uint8Array
  /** where each attestation starts in `attestations`, plus the end */
  offsets: Uint32Array
  records: RelayRecord[]
  recordBytes: Uint8Array[]
}

export interface RelayOutcome {
  relay: Uint8Array
  score: number
  reward: bigint
  attestations: number
}

export interface CloseResult {
  epoch: number
  contentRoot: Uint8Array
  rewardsRoot: Uint8Array
  cumulativeTotal: bigint
  relays: RelayOutcome[]
}

/**
 * What every honest ledger member computes when an epoch closes, with protocol/ functions: the content
 * root over the item ids, the registry, and the tally against the previous cumulative amounts. Holds
 * the ledger's running state (certified records, cumulative amounts), so jobs must come in epoch order.
 */
export class HonestTally {
  private records: RelayRecord[] = []
  private cumulative = new Map<Address, bigint>()

  constructor(private net: NetworkDefinition) {}

  close(job: CloseJob): CloseResult {
    const ids: Uint8Array[] = []
    const attestations = []
    for (let i = 0; i + 1 < job.offsets.length; i++) {
      const bytes = job.attestations.subarray(job.offsets[i], job.offsets[i + 1])
      ids.push(itemId('attestation', bytes))
      attestations.push(decodeAttestation(bytes))
    }
    for (const bytes of job.recordBytes) ids.push(itemId('relay-record', bytes))
    this.records.push(...job.records)
    const tally = computeTally({
      network: this.net,
      epoch: job.epoch,
      seed: job.seed,
      attestations,
      registry: buildRegistry(this.net, this.records),
      previous: this.cumulative,
    })
    this.cumulative = new Map(tally.leaves.map(l => [l.account, l.amount]))
    return {
      epoch: job.epoch,
      contentRoot: contentRoot(ids),
      rewardsRoot: tally.rewardsRoot,
      cumulativeTotal: tally.cumulativeTotal,
      relays: tally.relays.map(r => ({
        relay: r.relay,
        score: r.score,
        reward: r.reward,
        attestations: r.capacities.length,
      })),
    }
  }
}

/**
 * Closes epochs either inline or on a worker thread, overlapping the next epoch's probes (the results
 * are applied at the same simulated instant either way, so runs are identical). `take` blocks until the
 * epoch's result is there.
 */
export class Closer {
  private inline: HonestTally | undefined
  private worker: Worker | undefined
  private port: MessagePort | undefined
  private signal: Int32Array | undefined
  private done = new Map<number, CloseResult>()

  constructor(net: NetworkDefinition, parallel: boolean) {
    if (!parallel) {
      this.inline = new HonestTally(net)
      return
    }
    const { port1, port2 } = new MessageChannel()
    this.signal = new Int32Array(new SharedArrayBuffer(4))
    this.worker = moduleWorker('./close-worker', import.meta.url, {
      workerData: { net, port: port2, signal: this.signal },
      transferList: [port2],
    })
    this.worker.unref()
    this.port = port1
  }

  submit(job: CloseJob): void {
    if (this.inline) this.done.set(job.epoch, this.inline.close(job))
    else
      this.worker?.postMessage(job, [
        job.attestations.buffer as ArrayBuffer,
        job.offsets.buffer as ArrayBuffer,
      ])
  }

  take(epoch: number): CloseResult {
    for (;;) {
      const result = this.done.get(epoch)
      if (result) {
        this.done.delete(epoch)
        return result
      }
      const port = this.port as MessagePort
      const signal = this.signal as Int32Array
      const seen = Atomics.load(signal, 0)
      const msg = receiveMessageOnPort(port)
      if (msg) {
        const m = msg.message as { error?: string; result?: CloseResult }
        if (m.error) throw new Error(`epoch closer failed: ${m.error}`)
        const r = m.result as CloseResult
        this.done.set(r.epoch, r)
        continue
      }
      Atomics.wait(signal, 0, seen, 1000)
    }
  }

  stop(): void {
    this.worker?.terminate()
    this.port?.close()
  }
}
