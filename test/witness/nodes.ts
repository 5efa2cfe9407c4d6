import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { gossipScoring } from '../../node/host/gossip-scoring.ts'

export type GossipNode = Libp2p<{ pubsub: GossipSub }>

/** A bare libp2p node with Weir's gossipsub scoring, for topic tests. */
export async function gossipNode(networkId: string): Promise<GossipNode> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true, ...gossipScoring(networkId) }),
    },
  })
}
