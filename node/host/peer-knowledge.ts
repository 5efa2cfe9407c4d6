import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'

/** The folder of a data dir that holds what the node knows of its peers. */
export const PEERS_DIR = 'peers'

/**
 * Opens the data dir's store of peer knowledge (a LevelDB database): libp2p keeps its peer store there
 * (the peers' addresses, protocols and tags) and the relay directory its records, so a restarted node
 * finds the network again without its bootstrap peers. Only one process may hold it.
 */
export async function openPeerKnowledge(dir: string): Promise<LevelDatastore> {
  const path = join(dir, PEERS_DIR)
  const store = new LevelDatastore(path)
  try {
    await store.open()
  } catch (err) {
    let cause = err as Error
    while (cause.cause instanceof Error) cause = cause.cause
    throw new Error(
      `${path}: cannot open the peer store (is another weir process using ${dir}?): ${cause.message}`,
    )
  }
  return store
}
