/** Bytes a relay carried. `in`: from the client towards the target; `out`: back to the client. */
export interface ByteCounts {
  bytesIn: number
  bytesOut: number
}

export interface PeerCounts extends ByteCounts {
  openTunnels: number
  tunnels: number
}

/** Counts open tunnels and bytes per tunnel, per client peer and in total. */
export class Meter {
  openTunnels = 0
  tunnels = 0
  readonly total: ByteCounts = { bytesIn: 0, bytesOut: 0 }
  readonly peers = new Map<string, PeerCounts>()

  open(peer: string): TunnelMeter {
    let counts = this.peers.get(peer)
    if (counts === undefined) {
      counts = { openTunnels: 0, tunnels: 0, bytesIn: 0, bytesOut: 0 }
      this.peers.set(peer, counts)
    }
    counts.openTunnels++
    counts.tunnels++
    this.openTunnels++
    this.tunnels++
    return new TunnelMeter(this, counts)
  }
}

export class TunnelMeter implements ByteCounts {
  bytesIn = 0
  bytesOut = 0
  private closed = false

  constructor(
    private readonly meter: Meter,
    private readonly peer: PeerCounts,
  ) {}

  add(direction: 'in' | 'out', bytes: number): void {
    const key = direction === 'in' ? 'bytesIn' : 'bytesOut'
    this[key] += bytes
    this.peer[key] += bytes
    this.meter.total[key] += bytes
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.peer.openTunnels--
    this.meter.openTunnels--
  }
}
