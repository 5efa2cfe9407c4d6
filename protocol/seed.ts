import { u64be, utf8 } from './bytes.ts'
import { sha256 } from './hash.ts'
import type { EpochRoot } from './vote.ts'

/**
 * The seed that assigns witnesses in `epoch`. From epoch 2 on it commits to the certificate of
 * `epoch − 2`, so nobody knows it before that epoch is certified; before, it comes from the genesis seed.
 * Returns undefined when the certified root of `epoch − 2` is needed but not given: callers wait.
 */
export function epochSeed(
  net: { id: string; genesisSeed: Uint8Array },
  epoch: number,
  certifiedTwoBefore: Pick<EpochRoot, 'epoch' | 'contentRoot' | 'rewardsRoot'> | undefined,
): Uint8Array | undefined {
  const tag = utf8(`weir/seed/v1\0${net.id}\0`)
  if (epoch < 2) return sha256(tag, u64be(epoch), net.genesisSeed)
  if (!certifiedTwoBefore) return undefined
  if (certifiedTwoBefore.epoch !== epoch - 2)
    throw new RangeError(`seed of ${epoch} needs the root of ${epoch - 2}`)
  return sha256(tag, u64be(epoch), certifiedTwoBefore.contentRoot, certifiedTwoBefore.rewardsRoot)
}
