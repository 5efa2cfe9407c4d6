import { generateEd25519 } from '../../protocol/ed25519.ts'
import { type NetworkDefinition, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'

/** A minimal valid network definition for node tests (one witness, one committee member). */
export function testNetwork(id: string): NetworkDefinition {
  const peer = () => peerIdToString(peerIdOfPublicKey(generateEd25519().publicKey))
  return parseNetworkDefinition({
    version: 1,
    id,
    // one long epoch that has begun: no boundary falls inside a test, however late the file runs
    genesis: Date.now() - 30_000,
    epochSeconds: 3600,
    graceSeconds: 10,
    probe: { windowSeconds: 5, warmupSeconds: 1, timeoutSeconds: 20 },
    witnessesPerRelay: 1,
    minAttestations: 1,
    witnesses: [peer()],
    committee: [{ peerId: peer(), signer: `0x${'22'.repeat(20)}` }],
    genesisSeed: `0x${'11'.repeat(32)}`,
    eligibilityDelay: 0,
    relays: [],
    emissionPerEpoch: '1000',
    chain: { chainId: 31337 },
    bootstrap: [],
  })
}
