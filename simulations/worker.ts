// A sweep worker thread: runs the jobs it is sent, reporting progress and results to the parent.
import { parentPort } from 'node:worker_threads'
import { type Job, runJob } from './job.ts'

parentPort?.on('message', (job: Job) => {
  try {
    const result = runJob(job, epochs =>
      parentPort?.postMessage({ type: 'progress', index: job.index, epochs }),
    )
    parentPort?.postMessage({ type: 'result', result })
  } catch (err) {
    parentPort?.postMessage({ type: 'error', index: job.index, message: (err as Error).stack ?? String(err) })
  }
})
