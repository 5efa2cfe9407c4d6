import type { PrivateKey } from '@libp2p/interface'
import { Registry } from 'prom-client'
import type { RelayDirectory } from '../network/directory.ts'
import type { Host } from '../host/host.ts'
import type { Logger } from '../host/log.ts'
import { Meter } from './meter.ts'
import { MonthlyQuota } from './quota.ts'
import { readCounter, readGauge, type StatusSource } from '../host/status-server.ts'
import { TokenBucket } from './token-bucket.ts'
import { type ExitPolicy, type Lookup, mayConnect, parseIp, resolveExit } from './exit-policy.ts'
import { ownAddresses } from './own-addresses.ts'
import { TrafficLog } from './traffic-log.ts'
import { type TunnelLimits, TunnelServer } from './tunnel-server.ts'

/** What an operator may change while the relay runs (a reload keeps every open tunnel). */
export interface RelaySettings {
  /** The operator's exit policy; the relay adds its own addresses to it. */
  exitPolicy: Omit<ExitPolicy, 'ownAddresses'>
  /** Resolves exit names; the system resolver by default. */
  lookup?: Lookup
  /** Bytes per second through this relay, both directions together; undefined = uncapped. */
  maxBandwidthBps?: number
  /** Bytes a calendar month (UTC); undefined = no quota. */
  monthlyQuotaBytes?: number
}

export interface RelayOptions extends RelaySettings {
  networkId: string
  /** The host's libp2p key (the tunnel server answers exit channels with it). */
  privateKey: PrivateKey
  /** Where the month's usage is kept across restarts; needed for a quota. */
  usageFile?: string
  limits?: Partial<TunnelLimits>
  /** Reported in the status: the relays this one knows. */
  directory?: RelayDirectory
  /** Where the problems an operator can fix are told (the spent quota). */
  log?: Logger
}

/** The relay role on a host: tunnels with shaping, quota and metering, and what it reports about them. */
export class Relay implements StatusSource {
  readonly meter = new Meter()
  readonly metrics = new Registry()
  /** What the relay carried, second by second, for the witnesses that probe it. */
  private readonly traffic = new TrafficLog(() => this.meter.total)
  private readonly tunnels: TunnelServer
  private flushTimer: NodeJS.Timeout | undefined
  private bucket: TokenBucket | undefined
  private quota: MonthlyQuota | undefined
  private policy!: ExitPolicy
  private lookup: Lookup | undefined

  constructor(
    readonly host: Host,
    private readonly options: RelayOptions,
  ) {
    this.reconfigure(options)
    this.tunnels = new TunnelServer(host, {
      networkId: options.networkId,
      privateKey: options.privateKey,
      resolveExit: (target, port) => resolveExit(target, port, this.policy, this.lookup),
      mayDial: address => {
        const ip = parseIp(address)
        return ip !== undefined && mayConnect(ip, this.policy)
      },
      meter: this.meter,
      limits: options.limits,
      // one shaper object for the relay's life, so open tunnels follow a new rate
      bucket: { take: bytes => this.bucket?.take(bytes) ?? 0 },
      admit: () => this.admit(),
      onBytes: bytes => this.quota?.add(bytes),
    })
    this.registerMetrics()
  }

  /**
   * Applies new settings: a new cap reaches open tunnels at their next chunk, a new quota or exit
   * policy the next tunnel; open tunnels stay open.
   */
  reconfigure(settings: RelaySettings): void {
    this.policy = {
      ...settings.exitPolicy,
      ownAddresses: ownAddresses(() => this.host.getMultiaddrs()),
    }
    this.lookup = settings.lookup
    const rate = settings.maxBandwidthBps
    if (rate === undefined) this.bucket = undefined
    else if (this.bucket) this.bucket.setRate(rate)
    else this.bucket = new TokenBucket(rate)
    const limit = settings.monthlyQuotaBytes
    if (limit === undefined) {
      this.quota?.flush()
      this.quota = undefined
    } else if (this.quota) {
      this.quota.limitBytes = limit
    } else {
      if (this.options.usageFile === undefined) throw new RangeError('a monthly quota needs a usage file')
      this.quota = new MonthlyQuota(limit, this.options.usageFile)
    }
  }

  private admit(): boolean {
    const quota = this.quota
    const log = this.options.log
    if (quota === undefined || quota.admit()) {
      log?.resolved('quota', 'the monthly quota allows tunnels again')
      return true
    }
    log?.problem(
      'quota',
      'monthly quota exhausted: new tunnels are refused until the month ends (UTC)',
      'raise monthly-quota in the config file and send SIGHUP (or restart), or wait for the next month',
      { limitBytes: quota.limitBytes, usedBytes: quota.usedBytes },
    )
    return false
  }

  async start(): Promise<void> {
    await this.tunnels.start()
    this.traffic.start()
    await this.traffic.serve(this.host, this.options.networkId)
    // A crash then loses at most a minute of quota accounting.
    this.flushTimer = setInterval(() => this.quota?.flush(), 60_000)
    this.flushTimer.unref()
  }

  /** Tunnels being served now. */
  get openTunnels(): number {
    return this.tunnels.open
  }

  /**
   * Stops accepting tunnels, lets the open ones run for up to `drainMs`, then closes the rest (the host
   * itself is the caller's). Resolves with how many were cut at the bound.
   */
  async stop(drainMs = 0): Promise<number> {
    const cut = await this.tunnels.stop(drainMs)
    this.traffic.stop()
    clearInterval(this.flushTimer)
    this.quota?.flush()
    return cut
  }

  status() {
    const { meter, options } = this
    return {
      peerId: this.host.peerId.toString(),
      network: options.networkId,
      addresses: this.host.getMultiaddrs().map(a => a.toString()),
      reachability: this.host.services.reachability.current(),
      /** whether this node answers DHT queries (server) or only asks them (client) */
      dht: this.host.services.dht.getMode(),
      connections: this.host.getConnections().length,
      openTunnels: meter.openTunnels,
      tunnels: meter.tunnels,
      bufferedBytes: this.tunnels.bufferedBytes,
      totals: { ...meter.total },
      peers: Object.fromEntries(meter.peers),
      maxBandwidthBps: this.bucket?.rate ?? null,
      quota: this.quota ? { limitBytes: this.quota.limitBytes, usedBytes: this.quota.usedBytes } : null,
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
      () => this.bucket?.rate ?? 0,
    )
  }
}
