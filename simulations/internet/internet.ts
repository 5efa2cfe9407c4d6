// An emulated Internet in Linux network namespaces: a core router, public hosts each in a network of its
// own, and home LANs behind NAT routers (with a UPnP gateway, without one, or symmetric). libp2p counts
// every reserved range as private, so the public side uses ordinary unicast addresses; that is safe only
// because nothing here has a link to the machine's own interfaces or a route out, which build() checks
// before it starts any process. docs/internet.md describes the layout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { link, Namespace, namespacesNamed, sh, VETH_PREFIX } from './netns.ts'

/** How a home router translates: cone NAT with a UPnP IGD, cone NAT alone, or a symmetric NAT. */
export type NatKind = 'upnp' | 'cone' | 'symmetric'

export interface HomePlan {
  name: string
  nat: NatKind
  hosts: string[]
}

export interface InternetPlan {
  /** hosts with a public address, each in a network of its own */
  public: string[]
  homes: HomePlan[]
}

/** A machine on the emulated Internet: its namespace and its own address. */
export interface Machine {
  name: string
  ns: Namespace
  address: string
}

export interface HomeRouter extends Machine {
  nat: NatKind
  /** the router's address on its LAN (the hosts' gateway) */
  lanAddress: string
}

/** Public host i lives in 11+i.0.0.0/24 and home j's router in 51+j.0.0.0/24: distinct /8s, so every
 * public address is in a network of its own (AutoNAT counts confirmations per network). */
const publicNet = (i: number) => `${11 + i}.0.0`
const wanNet = (j: number) => `${51 + j}.0.0`
const lanNet = (j: number) => `192.168.${j + 1}`
/** Outside every network of the plan: a route lookup for it must fail everywhere. */
const OUTSIDE = '1.1.1.1'

export class EmulatedInternet {
  private readonly namespaces: Namespace[] = []
  readonly machines = new Map<string, Machine>()
  readonly routers = new Map<string, HomeRouter>()
  private readonly workDir = mkdtempSync(join(tmpdir(), 'weir-internet-'))

  private constructor(readonly prefix: string) {}

  /** Builds the plan's namespaces under names starting with `prefix`; removes all of them on failure. */
  static async build(plan: InternetPlan, prefix = `wi${process.pid}`): Promise<EmulatedInternet> {
    for (const stale of await namespacesNamed(`${prefix}-`)) await sh('ip', ['netns', 'del', stale])
    const net = new EmulatedInternet(prefix)
    try {
      const core = await net.namespace('core')
      await core.sysctl('net.ipv4.ip_forward', '1')
      for (const [i, name] of plan.public.entries()) await net.addPublic(core, name, i)
      for (const [j, home] of plan.homes.entries()) await net.addHome(core, home, j)
      await net.checkIsolated(core)
      for (const router of net.routers.values()) if (router.nat === 'upnp') await net.startGateway(router)
      return net
    } catch (err) {
      await net.close()
      throw err
    }
  }

  machine(name: string): Machine {
    const found = this.machines.get(name)
    if (!found) throw new Error(`no machine '${name}' on this emulated Internet`)
    return found
  }

  router(home: string): HomeRouter {
    const found = this.routers.get(home)
    if (!found) throw new Error(`no home '${home}' on this emulated Internet`)
    return found
  }

  /** Kills every process started in its namespaces and removes them all. */
  async close(): Promise<void> {
    await Promise.all(this.namespaces.splice(0).map(ns => ns.destroy()))
    rmSync(this.workDir, { recursive: true, force: true })
  }

  private async namespace(name: string): Promise<Namespace> {
    const ns = await Namespace.create(`${this.prefix}-${name}`)
    this.namespaces.push(ns)
    return ns
  }

  private async addPublic(core: Namespace, name: string, i: number): Promise<void> {
    const ns = await this.namespace(name)
    await link(core, `p${i}`, ns, 'eth0')
    await core.ip('addr', 'add', `${publicNet(i)}.1/24`, 'dev', `p${i}`)
    await ns.ip('addr', 'add', `${publicNet(i)}.2/24`, 'dev', 'eth0')
    await ns.ip('route', 'add', 'default', 'via', `${publicNet(i)}.1`)
    this.machines.set(name, { name, ns, address: `${publicNet(i)}.2` })
  }

  private async addHome(core: Namespace, home: HomePlan, j: number): Promise<void> {
    const router = await this.namespace(`${home.name}-router`)
    await link(core, `h${j}`, router, 'wan')
    await core.ip('addr', 'add', `${wanNet(j)}.1/24`, 'dev', `h${j}`)
    await router.ip('addr', 'add', `${wanNet(j)}.2/24`, 'dev', 'wan')
    await router.ip('route', 'add', 'default', 'via', `${wanNet(j)}.1`)
    await router.ip('link', 'add', 'lan', 'type', 'bridge')
    await router.ip('addr', 'add', `${lanNet(j)}.1/24`, 'dev', 'lan')
    await router.ip('link', 'set', 'lan', 'up')
    await router.sysctl('net.ipv4.ip_forward', '1')
    await router.nft(natRules(home.nat))
    this.routers.set(home.name, {
      name: home.name,
      ns: router,
      address: `${wanNet(j)}.2`,
      nat: home.nat,
      lanAddress: `${lanNet(j)}.1`,
    })
    for (const [k, name] of home.hosts.entries()) {
      const ns = await this.namespace(name)
      await link(router, `l${k}`, ns, 'eth0')
      await router.ip('link', 'set', `l${k}`, 'master', 'lan')
      await ns.ip('addr', 'add', `${lanNet(j)}.${k + 2}/24`, 'dev', 'eth0')
      await ns.ip('route', 'add', 'default', 'via', `${lanNet(j)}.1`)
      this.machines.set(name, { name, ns, address: `${lanNet(j)}.${k + 2}` })
    }
  }

  /** Nothing may reach the machine's own network: no namespace holds an interface the fixture did not
   * make, the machine holds none of its veth ends, and the core has no route beyond the plan. */
  private async checkIsolated(core: Namespace): Promise<void> {
    const own = new RegExp(`: ${VETH_PREFIX}[ab]\\d+[@:]`)
    const leftover = (await sh('ip', ['-o', 'link', 'show'])).split('\n').filter(l => own.test(l))
    if (leftover.length > 0) throw new Error(`veth ends left on the machine: ${leftover.join('; ')}`)
    for (const ns of this.namespaces) {
      const links = JSON.parse(await ns.ip('-j', '-d', 'link', 'show')) as {
        ifname: string
        linkinfo?: { info_kind?: string }
      }[]
      const foreign = links.filter(
        l => l.ifname !== 'lo' && !['veth', 'bridge'].includes(l.linkinfo?.info_kind ?? ''),
      )
      if (foreign.length > 0) throw new Error(`${ns.name} holds ${foreign.map(l => l.ifname).join(', ')}`)
    }
    const out = await core.ip('route', 'get', OUTSIDE).then(
      route => `routes ${OUTSIDE}: ${route.trim()}`,
      () => undefined,
    )
    if (out) throw new Error(`the core ${out}; it must have no route out`)
  }

  /** miniupnpd on the router's LAN side, mapping onto its WAN address; resolves once it answers. */
  private async startGateway(router: HomeRouter): Promise<void> {
    const conf = join(this.workDir, `${router.name}-miniupnpd.conf`)
    writeFileSync(conf, gatewayConfig(router))
    // its own pid file: the default one in /var/run would stop a second emulated Internet's gateway
    const pid = join(this.workDir, `${router.name}-miniupnpd.pid`)
    const daemon = router.ns.spawn('miniupnpd', ['-d', '-f', conf, '-P', pid])
    let log = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`miniupnpd in ${router.name} did not start: ${log}`)),
        10_000,
      )
      const seen = (chunk: Buffer) => {
        log += chunk
        if (/HTTP listening on port/.test(log)) {
          clearTimeout(timer)
          resolve()
        }
      }
      daemon.stdout?.on('data', seen)
      daemon.stderr?.on('data', seen)
      daemon.once('exit', code => {
        clearTimeout(timer)
        reject(new Error(`miniupnpd in ${router.name} exited with ${code}: ${log}`))
      })
    })
  }
}

/**
 * A home router's ruleset. Linux masquerading keeps a connection's source port where it can, so one
 * inside port maps to one outside port whatever the destination (a cone NAT, which hole punching can
 * traverse); `random` draws a new port per connection (a symmetric NAT, which it cannot). Inbound
 * traffic passes only for connections made from inside, or through a mapping miniupnpd adds: its
 * nftables backend writes into the chains named in its config, which must already exist in `inet filter`.
 */
export function natRules(nat: NatKind): string {
  return `table inet filter {
  chain miniupnpd {
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    jump miniupnpd
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan" masquerade${nat === 'symmetric' ? ' random' : ''}
  }
}
`
}

function gatewayConfig(router: HomeRouter): string {
  const lan = router.lanAddress.replace(/\.1$/, '.0/24')
  return [
    'ext_ifname=wan',
    'listening_ip=lan',
    'http_port=0',
    'enable_upnp=yes',
    'enable_natpmp=yes',
    'secure_mode=yes',
    'system_uptime=yes',
    'upnp_table_name=filter',
    'upnp_nat_table_name=filter',
    'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd',
    'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    `uuid=3d3cec3a-8cf0-11e0-98ee-${router.address
      .split('.')
      .map(n => n.padStart(3, '0'))
      .join('')
      .slice(0, 12)}`,
    `allow 1024-65535 ${lan} 1024-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n')
}

/** The layout the reachability tests and `npm run internet` use (docs/internet.md). */
export const STANDARD_PLAN: InternetPlan = {
  public: ['bootstrap-1', 'bootstrap-2', 'ledger', 'witness', 'sink', 'server', 'stun-1', 'stun-2'],
  homes: [
    { name: 'home-upnp', nat: 'upnp', hosts: ['relay-upnp'] },
    { name: 'home-cone', nat: 'cone', hosts: ['relay-cone'] },
    { name: 'home-symmetric', nat: 'symmetric', hosts: ['relay-symmetric'] },
    { name: 'home-consumer', nat: 'cone', hosts: ['consumer'] },
    { name: 'home-witness', nat: 'cone', hosts: ['witness-home'] },
  ],
}
