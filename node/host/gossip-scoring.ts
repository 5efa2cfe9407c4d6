import type { PeerScoreParams, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { PeerScoreThresholds } from '@libp2p/gossipsub/score'

// Gossipsub v1.1 peer scoring for Weir's topics, shaped after Lighthouse's attestation parameters:
// a peer's positive score is capped (topicScoreCap), and one invalid message costs more than that cap,
// so a peer that sends anything our validators reject is at once below zero (pruned from our mesh) and a
// flooder falls past the graylist threshold, after which we drop every RPC it sends. Counters decay
// once a second.

export const SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -4000,
  publishThreshold: -8000,
  graylistThreshold: -16000,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5,
}

const TOPIC_SCORE_CAP = 50
const TOPIC_WEIGHT = 0.5
const DECAY_INTERVAL_MS = 1000

/** The per-interval factor under which a counter falls to 1% of its value in `seconds`. */
const decayOver = (seconds: number): number => 0.01 ** (DECAY_INTERVAL_MS / 1000 / seconds)

function topicParams(): TopicScoreParams {
  return {
    topicWeight: TOPIC_WEIGHT,
    // P1: a little credit for staying in the mesh, up to 10 points after 5 minutes
    timeInMeshWeight: 10 / 300,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    // P2: credit for being first with valid messages, up to 20 points
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: decayOver(600),
    firstMessageDeliveriesCap: 20,
    // P3/P3b off: attestations come in bursts at the witnesses' secret probe times, so a delivery-rate
    // floor would punish honest peers in quiet minutes.
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 1,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    // P4: the counter is squared, so n invalid messages cost n² × 2 × (cap + 1): one outweighs every
    // positive term, ~13 reach the graylist. Remembered for hours (1% left after 6 h).
    invalidMessageDeliveriesWeight: -(2 * (TOPIC_SCORE_CAP + 1)) / TOPIC_WEIGHT,
    invalidMessageDeliveriesDecay: decayOver(6 * 3600),
  }
}

/** Score parameters and thresholds for a Weir host of `networkId`: pass them to gossipsub at creation. */
export function gossipScoring(networkId: string): {
  scoreParams: Partial<PeerScoreParams>
  scoreThresholds: PeerScoreThresholds
} {
  const topics: Record<string, TopicScoreParams> = {}
  for (const name of ['attestations', 'relays', 'votes'])
    topics[`weir/${networkId}/${name}/1`] = topicParams()
  return {
    scoreParams: {
      topics,
      topicScoreCap: TOPIC_SCORE_CAP,
      appSpecificScore: () => 0,
      appSpecificWeight: 1,
      // Many honest home relays can share a carrier-grade NAT address, so colocation costs little;
      // loopback peers are the operator's own processes (and a whole local testnet).
      IPColocationFactorWeight: -1,
      IPColocationFactorThreshold: 10,
      IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
      behaviourPenaltyWeight: -10,
      behaviourPenaltyThreshold: 6,
      behaviourPenaltyDecay: decayOver(3600),
      decayInterval: DECAY_INTERVAL_MS,
      decayToZero: 0.01,
      retainScore: 6 * 3600 * 1000,
    },
    scoreThresholds: SCORE_THRESHOLDS,
  }
}
