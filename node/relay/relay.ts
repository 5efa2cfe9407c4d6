import type { PrivateKey } from '@libp2p/interface'
import { Registry } from 'prom-client'
import type { RelayDirectory } from '../network/directory.ts'
import type { Host } from '../host/host.ts'
import { Meter } from './meter.ts'
import type { MonthlyQuota } from './quota.ts'
import { readCounter, readGauge, type StatusSource } from '../host/status-server.ts'
import { TokenBucket } from './token-bucket.ts'
import { type ExitPolicy, type Lookup, mayConnect, parseIp, resolveExit } from './exit-policy.ts'
import { ownAddresses } from './own-addresses.ts'
import { type TunnelLimits, TunnelServer } from './tunnel-server.ts'

export interface RelayOptions {
  networkId: string
  /** The host's libp2p key (the tunnel server answers exit channels with it). */
  privateKey: PrivateKey
  /** The operator's exit policy; the relay adds its own addresses to it. */
  exitPolicy: Omit<ExitPolicy, 'ownAddresses'>
  /** Resolves exit names; the system resolver by default. */
  lookup?: Lookup
  /** Bytes per second through this relay, both directions together; undefined = uncapped. */
  maxBandwidthBps?: number
  quota?: MonthlyQuota
  limits?: Partial<TunnelLimits>
  /** Reported in the status: the relays this one knows. */
  directory?: RelayDirectory
}

/** The relay role on a host: tunnels with shaping, quota and metering, and what it reports about them. */
export class Relay implements StatusSource {
  readonly meter = new Meter()
  readonly metrics = new Registry()
  private readonly tunnels: TunnelServer
  private flushTimer: NodeJS.Timeout | undefined

  constructor(
    readonly host: Host,
    private readonly options: RelayOptions,
  ) {
    const quota = options.quota
    const policy: ExitPolicy = {
      ...options.exitPolicy,
      ownAddresses: ownAddresses(() => host.getMultiaddrs()),
    }
    this.tunnels = new TunnelServer(host, {
      networkId: options.networkId,
      privateKey: options.privateKey,
      resolveExit: (target, port) => resolveExit(target, port, policy, options.lookup),
      mayDial: address => {
        const ip = parseIp(address)
        return ip !== undefined && mayConnect(ip, policy)
      },
      meter: this.meter,
      limits: options.limits,
      bucket: options.maxBandwidthBps === undefined ? undefined : new TokenBucket(options.maxBandwidthBps),
      admit: quota && (() => quota.admit()),
      onBytes: quota && (bytes => quota.add(bytes)),
    })
    this.registerMetrics()
  }

  async start(): Promise<void> {
    await this.tunnels.start()
    const quota = this.options.quota
    if (quota) {
      // A crash then loses at most a minute of quota accounting.
      this.flushTimer = setInterval(() => quota.flush(), 60_000)
      this.flushTimer.unref()
    }
  }

  /** Closes every open tunnel and stops accepting new ones (the host itself is the caller's). */
  async stop(): Promise<void> {
    clearInterval(this.flushTimer)
    await this.tunnels.stop()
    this.options.quota?.flush()
  }

  status() {
    const { meter, options } = this
    return {
      peerId: this.host.peerId.toString(),
      network: options.networkId,
      addresses: this.host.getMultiaddrs().map(a => a.toString()),
      connections: this.host.getConnections().length,
      openTunnels: meter.openTunnels,
      tunnels: meter.tunnels,
      bufferedBytes: this.tunnels.bufferedBytes,
      totals: { ...meter.total },
      peers: Object.fromEntries(meter.peers),
      maxBandwidthBps: options.maxBandwidthBps ?? null,
      quota: options.quota
        ? { limitBytes: options.quota.limitBytes, usedBytes: options.quota.usedBytes }
        : null,
      knownRelays: (options.directory?.list() ?? []).map(r => ({
        peerId: r.peerId,
        addrs: r.record.addrs,
        seq: r.record.seq,
        epoch: r.record.epoch,
        capacityBps: r.capacityBps ?? null,
      })),
    }
  }

  private registerMetrics(): void {
    const { meter, metrics } = this
    readGauge(metrics, 'weir_relay_open_tunnels', 'Tunnels open now.', () => meter.openTunnels)
    readCounter(metrics, 'weir_relay_tunnels_total', 'Tunnels opened since start.', [], () => [
      [{}, meter.tunnels],
    ])
    readGauge(
      metrics,
      'weir_relay_buffered_bytes',
      'Bytes the open tunnels hold in buffers.',
      () => this.tunnels.bufferedBytes,
    )
    readCounter(
      metrics,
      'weir_relay_bytes_total',
      'Bytes relayed: in = from clients, out = to clients.',
      ['direction'],
      () => [
        [{ direction: 'in' }, meter.total.bytesIn],
        [{ direction: 'out' }, meter.total.bytesOut],
      ],
    )
    readGauge(
      metrics,
      'weir_relay_connections',
      'libp2p connections open now.',
      () => this.host.getConnections().length,
    )
    readGauge(
      metrics,
      'weir_relay_known_relays',
      "Relays in this relay's directory, itself included.",
      () => this.options.directory?.list().length ?? 0,
    )
    readGauge(
      metrics,
      'weir_relay_max_bandwidth_bytes_per_second',
      'Operator cap, 0 when uncapped.',
      () => this.options.maxBandwidthBps ?? 0,
    )
  }
}
