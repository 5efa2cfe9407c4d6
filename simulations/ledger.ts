import { u64be, utf8 } from '../protocol/bytes.ts'
import { sha256 } from '../protocol/hash.ts'
import {
  type Certificate,
  type EpochRoot,
  sameRoot,
  signVote,
  type Vote,
  type VoteDomain,
  verifyCertificate,
} from '../protocol/vote.ts'
import type { World } from './world.ts'

export interface Finality {
  /** the honest root's certificate, or undefined if no quorum signed it */
  certificate?: Certificate
  /** certificates for roots other than the honest one (safety violations) */
  conflicting: number
  votes: number
}

/**
 * The committee's votes on an epoch. Honest members (who reconciled to the same content, so computed
 * the same tally) sign the honest root; byzantine members sign a root of their own that pays their
 * favourite everything, and when equivocating the honest root as well. Any quorum of matching votes is
 * assembled into a certificate and checked with the protocol's verifyCertificate.
 */
export function finalize(world: World, honest: EpochRoot): Finality {
  const net = world.net
  const domain: VoteDomain = {
    chainId: net.chain.chainId,
    verifyingContract: net.chain.rewards as `0x${string}`,
  }
  const strategy = world.scenario.adversaries.byzantine?.strategy
  const forged: EpochRoot = {
    ...honest,
    rewardsRoot: sha256(utf8('weir/sim/byzantine\0'), u64be(honest.epoch)),
    cumulativeTotal: honest.cumulativeTotal + net.emissionPerEpoch,
  }
  const ballots: { root: EpochRoot; votes: { vote: Vote; signer: string }[] }[] = [
    { root: honest, votes: [] },
    { root: forged, votes: [] },
  ]
  let votes = 0
  for (const m of world.members) {
    const roots = !m.byzantine ? [honest] : strategy === 'withhold' ? [forged] : [forged, honest]
    for (const root of roots) {
      const ballot = ballots.find(b => sameRoot(b.root, root)) as (typeof ballots)[number]
      ballot.votes.push({ vote: signVote(domain, root, m.signer), signer: m.address })
      votes++
    }
  }
  const committee = world.members.map(m => m.address)
  const certificates = ballots.flatMap(({ root, votes: vs }) => {
    if (vs.length < net.quorum) return []
    const signatures = [...vs].sort((a, b) => (a.signer < b.signer ? -1 : 1)).map(v => v.vote.signature)
    const certificate: Certificate = { ...root, signatures }
    const check = verifyCertificate(domain, certificate, committee, net.quorum)
    if (!check.ok) throw new Error(`simulator built an invalid certificate: ${check.reason}`)
    return [certificate]
  })
  const certificate = certificates.find(c => sameRoot(c, honest))
  return { certificate, conflicting: certificates.length - (certificate ? 1 : 0), votes }
}
