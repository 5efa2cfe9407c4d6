// The epoch closer's thread: computes each submitted epoch's content root and tally, in order.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import { type CloseJob, HonestTally } from './closer.ts'

const { net, port, signal } = workerData as {
  net: ConstructorParameters<typeof HonestTally>[0]
  port: MessagePort
  signal: Int32Array
}
const closer = new HonestTally(net)
parentPort?.on('message', (job: CloseJob) => {
  try {
    port.postMessage({ result: closer.close(job) })
  } catch (err) {
    port.postMessage({ error: (err as Error).stack ?? String(err) })
  }
  Atomics.add(signal, 0, 1)
  Atomics.notify(signal, 0)
})
