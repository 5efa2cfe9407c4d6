import { type IpAddress, parseIp } from './exit-policy.ts'

// Peer identities cost nothing, so a relay that only counted tunnels per peer could be filled by a few
// identities holding idle tunnels, and would then refuse everyone, witnesses' probes included. Slots and
// buffer memory are shared max-min fairly down a tree: networks (an IPv4 address, an IPv6 /48: one site,
// however many /64s it hands out), then addresses (an IPv4 address, an IPv6 /64), then peers, then their
// tunnels. A full relay admits a newcomer by evicting the idlest tunnel of whoever holds most, if the
// newcomer's side holds fewer; over its memory budget it evicts from whoever buffers most.

export interface SlotLimits {
  maxTunnels: number
  maxTunnelsPerPeer: number
  /** Bytes all tunnels may hold in their buffers together. */
  maxBufferBytes: number
}

/** One open tunnel's claim on the relay. The tunnel server fills in how to measure and close it. */
export class Slot {
  /** When the tunnel last carried a byte (admission counts). */
  lastActive: number
  /** Bytes the tunnel holds in buffers now. */
  buffered: () => number = () => 0
  /** Closes the tunnel; called once, when the slot is taken back. */
  evict: (reason: Error) => void = () => {}
  released = false

  constructor(
    /** Every group on the way from the root to the peer, the peer last. */
    readonly groups: readonly Group[],
    now: number,
  ) {
    this.lastActive = now
  }
}

export class EvictedError extends Error {
  override name = 'EvictedError'
}

class Group {
  count = 0
  readonly children = new Map<string, Group>()
  /** Only on peers: their tunnels. */
  readonly slots = new Set<Slot>()

  constructor(
    readonly key: string,
    readonly parent: Group | undefined,
  ) {}
}

export class TunnelSlots {
  private readonly root = new Group('', undefined)

  constructor(
    private readonly limits: SlotLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get open(): number {
    return this.root.count
  }

  /**
   * A slot for a tunnel from `peer` connected from `address` (an IP address as text; anything else is
   * one group of its own), evicting another tunnel if the relay is full and that is fair; undefined
   * means busy.
   */
  admit(peer: string, address: string): Slot | undefined {
    const path = [...addressGroups(address), peer]
    if ((this.find(path)?.count ?? 0) >= this.limits.maxTunnelsPerPeer) return undefined
    if (this.root.count >= this.limits.maxTunnels) {
      const victim = this.victimFor(path)
      if (victim === undefined) return undefined
      this.take(victim, new EvictedError('evicted: the relay is full and this tunnel was idlest'))
    }
    const groups: Group[] = []
    let group = this.root
    for (const key of path) {
      let child = group.children.get(key)
      if (child === undefined) {
        child = new Group(key, group)
        group.children.set(key, child)
      }
      groups.push(child)
      group = child
    }
    const slot = new Slot(groups, this.now())
    group.slots.add(slot)
    this.root.count++
    for (const g of groups) g.count++
    return slot
  }

  /** Frees a closed tunnel's slot (again is a no-op). */
  release(slot: Slot): void {
    if (slot.released) return
    slot.released = true
    slot.groups.at(-1)?.slots.delete(slot)
    this.root.count--
    for (const g of slot.groups) {
      g.count--
      if (g.count === 0) g.parent?.children.delete(g.key)
    }
  }

  /** Bytes all tunnels hold in their buffers now. */
  bufferedBytes(): number {
    let total = 0
    for (const slot of this.slots()) total += slot.buffered()
    return total
  }

  touch(slot: Slot): void {
    slot.lastActive = this.now()
  }

  /** While the tunnels buffer more than the budget, evicts the biggest buffer of whoever buffers most. */
  reclaimMemory(): void {
    const bytes = new Map<Slot | Group, number>()
    let total = 0
    for (const slot of this.slots()) {
      const b = slot.buffered()
      bytes.set(slot, b)
      total += b
      for (const g of slot.groups) bytes.set(g, (bytes.get(g) ?? 0) + b)
    }
    while (total > this.limits.maxBufferBytes) {
      let group = this.root
      while (group.children.size > 0) group = heaviest(group.children.values(), g => bytes.get(g) ?? 0)
      const victim = heaviest(group.slots, s => bytes.get(s) ?? 0)
      const b = bytes.get(victim) ?? 0
      total -= b
      for (const g of victim.groups) bytes.set(g, (bytes.get(g) ?? 0) - b)
      this.take(victim, new EvictedError('evicted: the relay is over its buffer budget'))
    }
  }

  /** Takes back every slot: the relay is stopping. */
  closeAll(reason: Error): void {
    for (const slot of [...this.slots()]) this.take(slot, reason)
  }

  private *slots(): Generator<Slot> {
    const stack = [this.root]
    for (let group = stack.pop(); group !== undefined; group = stack.pop()) {
      yield* group.slots
      stack.push(...group.children.values())
    }
  }

  private find(path: readonly string[]): Group | undefined {
    let group: Group | undefined = this.root
    for (const key of path) group = group?.children.get(key)
    return group
  }

  /**
   * At the first level where some other group holds at least two more tunnels than the newcomer's
   * would, the idlest tunnel of the heaviest such group's heaviest peer: taking it leaves that group
   * no smaller than the newcomer's, so two sides cannot keep evicting each other.
   */
  private victimFor(path: readonly string[]): Slot | undefined {
    let parent = this.root
    for (const key of path) {
      const mine = parent.children.get(key)
      const mineCount = mine?.count ?? 0
      const others = [...parent.children.values()].filter(g => g !== mine && g.count > mineCount + 1)
      if (others.length > 0) {
        let group = heaviest(others, g => g.count)
        while (group.children.size > 0) group = heaviest(group.children.values(), g => g.count)
        return heaviest(group.slots, s => -s.lastActive)
      }
      if (mine === undefined) return undefined
      parent = mine
    }
    return undefined
  }

  private take(slot: Slot, reason: Error): void {
    this.release(slot)
    slot.evict(reason)
  }
}

/** The first item with the largest weight. */
function heaviest<T>(items: Iterable<T>, weight: (item: T) => number): T {
  let best: T | undefined
  let bestWeight = Number.NEGATIVE_INFINITY
  for (const item of items) {
    const w = weight(item)
    if (w > bestWeight) [best, bestWeight] = [item, w]
  }
  if (best === undefined) throw new RangeError('no items')
  return best
}

/** The network and the address a remote address belongs to. */
export function addressGroups(address: string): [string, string] {
  const ip = parseIp(address)
  if (ip === undefined) return [address, address]
  if (ip.family === 4) {
    const text = ip.bytes.join('.')
    return [text, text]
  }
  return [prefix(ip, 48), prefix(ip, 64)]
}

function prefix(ip: IpAddress, bits: 48 | 64): string {
  const words = Array.from({ length: bits / 16 }, (_, i) =>
    ((ip.bytes[2 * i]! << 8) | ip.bytes[2 * i + 1]!).toString(16),
  )
  return `${words.join(':')}::/${bits}`
}
