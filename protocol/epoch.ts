import type { NetworkDefinition } from './network.ts'

type Clock = Pick<NetworkDefinition, 'genesis' | 'epochSeconds' | 'graceSeconds'>

/** The epoch an instant (unix ms) falls in; -1 before genesis. */
export function epochAt(net: Clock, nowMs: number): number {
  if (nowMs < net.genesis) return -1
  return Math.floor((nowMs - net.genesis) / (net.epochSeconds * 1000))
}

export function epochStart(net: Clock, epoch: number): number {
  return net.genesis + epoch * net.epochSeconds * 1000
}

export function epochEnd(net: Clock, epoch: number): number {
  return epochStart(net, epoch + 1)
}

/** The end of an epoch's grace window: after it, the epoch's content is closed and may be tallied. */
export function graceEnd(net: Clock, epoch: number): number {
  return epochEnd(net, epoch) + net.graceSeconds * 1000
}

/** Whether a message about `epoch` is timely at `nowMs`: the current epoch, or a past one still in grace. */
export function isTimely(net: Clock, epoch: number, nowMs: number): boolean {
  return epoch >= 0 && epochStart(net, epoch) <= nowMs && nowMs < graceEnd(net, epoch)
}
