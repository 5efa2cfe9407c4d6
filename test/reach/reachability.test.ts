import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir } from '../../node/host/datadir.ts'
import { isDialableAddress, isPunchableAddress, type Reachability } from '../../node/host/reachability.ts'
import { EmulatedInternet, type Machine } from '../../simulations/internet/internet.ts'
import { STUN_PORT, startStunServer } from '../../simulations/internet/stun-server.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'
import { testNetwork } from '../helpers/network.ts'
import { requireSystem } from '../helpers/requires.ts'
import { waitFor } from '../helpers/wait.ts'

// Real `weir relay` processes on an emulated Internet (simulations/internet/): relays on public hosts,
// one behind a router with a UPnP gateway, one behind a cone NAT without, one behind a symmetric NAT, two
// STUN servers, a file server, and a consumer behind a NAT of its own. On a network whose definition is
// not local, what each relay reports, what the network learns of it, and what a consumer gets through it.

interface RelayStatus {
  peerId: string
  addresses: string[]
  reachability: Reachability
  dht: 'client' | 'server'
  knownRelays: { peerId: string; addrs: string[] }[]
}

// A file server on the public segment: 4 MiB of bytes that depend on their offset, so a sha256 shows every
// byte arrived in order. 4 MiB is 32 times what a circuit-relay hop lets through (node/host/host.ts).
const FILE_BYTES = 4 * 1024 * 1024
const FILE_SERVER = `const body = Buffer.alloc(${FILE_BYTES}); for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 10)) & 255
  require('http').createServer((q, r) => r.end(body)).listen(8080, '0.0.0.0', () => console.log('listening'))`
const fileSha256 = () => {
  const body = Buffer.alloc(FILE_BYTES)
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 10)) & 255
  return createHash('sha256').update(body).digest('hex')
}

interface PublicView {
  providers: { peer: string; addrs: string[] }[]
  dialled: { address: string; ok: boolean; errors: string[] }[]
}

const PAYOUT = `0x${'cd'.repeat(20)}` as const

describe('reachability on the emulated Internet (real relays behind real NATs)', function () {
  this.timeout(120_000)
  let net: EmulatedInternet | undefined
  let work: string | undefined
  const relays = new Map<string, { machine: Machine; peerId: string; status: string; stderr: () => string }>()
  const stun: string[] = []
  const { json, network } = testNetwork({ label: 'reach', overrides: { id: 'reach-test', local: undefined } })

  before(async function () {
    requireSystem(
      this,
      { root: true, commands: ['ip', 'nft', 'miniupnpd', 'upnpc', 'turnserver', 'curl'] },
      'builds namespaces',
    )
    work = mkdtempSync(join(tmpdir(), 'weir-reach-'))
    net = await EmulatedInternet.build({
      public: ['bootstrap-1', 'bootstrap-2', 'server', 'stun-1', 'stun-2'],
      homes: [
        { name: 'home-upnp', nat: 'upnp', hosts: ['relay-upnp'] },
        { name: 'home-cone', nat: 'cone', hosts: ['relay-cone'] },
        { name: 'home-symmetric', nat: 'symmetric', hosts: ['relay-symmetric'] },
        { name: 'home-consumer', nat: 'cone', hosts: ['consumer'] },
      ],
    })
    for (const name of ['stun-1', 'stun-2']) {
      const m = the().machine(name)
      await startStunServer(m.address, (c, a) => m.ns.spawn(c, a))
      stun.push('--stun', `${m.address}:${STUN_PORT}`)
    }
    const server = the().machine('server')
    const files = server.ns.spawn(process.execPath, ['-e', FILE_SERVER])
    await new Promise(resolve =>
      createInterface({ input: files.stdout as NodeJS.ReadableStream }).once('line', resolve),
    )
    const names = ['bootstrap-1', 'bootstrap-2', 'relay-upnp', 'relay-cone', 'relay-symmetric']
    const dirs = new Map(
      names.map(name => [name, initDataDir(join(work as string, name), network, { payout: PAYOUT })]),
    )
    const b1 = `/ip4/${net.machine('bootstrap-1').address}/tcp/4001`
    const bootstrap = ['--bootstrap', `${b1}/p2p/${dirs.get('bootstrap-1')?.identity.peerId}`]
    await Promise.all(
      names.map(name => startRelay(name, name === 'bootstrap-1' ? ['--announce', b1] : bootstrap)),
    )
  })

  after(async () => {
    await net?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return
    for (const [name, r] of relays) console.log(`--- ${name} stderr:\n${r.stderr().slice(-3000)}`)
  })

  const the = () => net as EmulatedInternet

  async function startRelay(name: string, extra: string[]): Promise<void> {
    const dir = join(work as string, name)
    const machine = the().machine(name)
    const args = [
      'relay',
      '--dir',
      dir,
      '--listen',
      '/ip4/0.0.0.0/tcp/4001',
      '--status',
      '127.0.0.1:0',
      ...stun,
      ...extra,
    ]
    const child = machine.ns.spawn(process.execPath, [...nodeArgs(WEIR_ENTRY), ...args])
    let stderr = ''
    child.stderr?.on('data', d => {
      stderr += d
    })
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve)
      child.once('exit', code => reject(new Error(`${name}: weir relay exited with ${code}: ${stderr}`)))
    })
    const info = JSON.parse(first) as { peerId: string; status: string }
    relays.set(name, { machine, peerId: info.peerId, status: info.status, stderr: () => stderr })
  }

  function relay(name: string) {
    const r = relays.get(name)
    if (!r) throw new Error(`no relay ${name}`)
    return r
  }

  /** A relay's /status, read inside its namespace. */
  async function status(name: string): Promise<RelayStatus> {
    const r = relay(name)
    const script = `fetch('http://${r.status}/status').then(r => r.text()).then(t => process.stdout.write(t))`
    return JSON.parse(await r.machine.ns.exec(process.execPath, ['-e', script])) as RelayStatus
  }

  const reachable = (name: string, state: Reachability['state']) =>
    waitFor(
      async () => {
        const s = await status(name)
        return s.reachability.state === state && s
      },
      { what: `${name} to be ${state}`, timeoutMs: 60_000, intervalMs: 1000 },
    )

  it('records a public relay that announces its address with exactly that address', async () => {
    const s = await reachable('bootstrap-1', 'public')
    const own = `/ip4/${the().machine('bootstrap-1').address}/tcp/4001/p2p/${s.peerId}`
    assert.deepEqual(s.addresses, [own])
    assert.match(s.reachability.reason, /--announce/)
    assert.deepEqual(s.knownRelays.find(r => r.peerId === s.peerId)?.addrs, [own])
  })

  it('confirms a public relay that announces nothing through AutoNAT, and records its public address only', async () => {
    const s = await reachable('bootstrap-2', 'public')
    assert.match(s.reachability.reason, /AutoNAT/)
    assert.deepEqual(s.addresses, [`/ip4/${the().machine('bootstrap-2').address}/tcp/4001/p2p/${s.peerId}`])
  })

  it('maps a port through the UPnP gateway, confirms it, and the network records that address alone', async () => {
    const s = await reachable('relay-upnp', 'port-mapped')
    const mapped = `/ip4/${the().router('home-upnp').address}/tcp/4001/p2p/${s.peerId}`
    assert.deepEqual(s.addresses, [mapped])
    const seen = await waitFor(
      async () => (await status('bootstrap-1')).knownRelays.find(r => r.peerId === s.peerId),
      { what: 'bootstrap-1 to learn the port-mapped relay', timeoutMs: 20_000, intervalMs: 500 },
    )
    assert.deepEqual(seen.addrs, [mapped])
  })

  it('reaches the relay behind a cone NAT without UPnP by hole punching, signalled through a public relay', async () => {
    const s = await reachable('relay-cone', 'hole-punching')
    assert.match(s.reachability.reason, /behind a NAT .* no router mapped a port/)
    assert.match(s.reachability.reason, /its NAT keeps one port per socket \(STUN saw 52\.0\.0\.2:\d+\)/)
    assert.ok(s.addresses.length > 0)
    const publicRelays = ['bootstrap-1', 'bootstrap-2', 'relay-upnp'].map(n => relay(n).peerId)
    for (const address of s.addresses) {
      assert.ok(isPunchableAddress(multiaddr(address)), address)
      assert.ok(
        publicRelays.some(p => address.includes(`/p2p/${p}/p2p-circuit/webrtc/p2p/${s.peerId}`)),
        address,
      )
    }
    const seen = await waitFor(
      async () => (await status('bootstrap-1')).knownRelays.find(r => r.peerId === s.peerId),
      { what: 'bootstrap-1 to learn the hole-punching relay', timeoutMs: 20_000, intervalMs: 500 },
    )
    assert.deepEqual(seen.addrs, s.addresses)
  })

  it('serves the DHT only from relays peers dial directly', async () => {
    await reachable('relay-upnp', 'port-mapped')
    await reachable('relay-cone', 'hole-punching')
    const modes = await waitFor(
      async () => {
        const m = Object.fromEntries(
          await Promise.all([...relays.keys()].map(async n => [n, (await status(n)).dht] as const)),
        )
        return m['relay-upnp'] === 'server' && m['bootstrap-2'] === 'server' && m
      },
      { what: 'the public relays to serve the DHT', timeoutMs: 20_000, intervalMs: 500 },
    )
    assert.deepEqual(modes, {
      'bootstrap-1': 'server',
      'bootstrap-2': 'server',
      'relay-upnp': 'server',
      'relay-cone': 'client',
      'relay-symmetric': 'client',
    })
  })

  it('reports the relay behind the symmetric NAT unreachable with why, and publishes no record of it', async () => {
    await reachable('relay-upnp', 'port-mapped')
    for (const name of ['relay-symmetric']) {
      const s = await waitFor(
        async () => {
          const now = await status(name)
          return /symmetric/.test(now.reachability.reason) && now
        },
        { what: `${name} to learn its NAT is symmetric`, timeoutMs: 30_000, intervalMs: 1000 },
      )
      assert.equal(s.reachability.state, 'unreachable')
      assert.match(s.reachability.reason, /behind a NAT .* no router mapped a port/, name)
      assert.match(
        s.reachability.reason,
        /the router gives each destination a new port \(a symmetric NAT: STUN servers saw 53\.0\.0\.2:\d+ and 53\.0\.0\.2:\d+\), so no hole can be punched/,
      )
      assert.match(s.reachability.remedy ?? '', /enable UPnP IGD on the router, or forward TCP port 4001/)
      assert.deepEqual(s.addresses, [], name)
      assert.equal(
        s.knownRelays.find(r => r.peerId === s.peerId),
        undefined,
        `${name} made a record`,
      )
      for (const b of ['bootstrap-1', 'bootstrap-2'])
        assert.equal(
          (await status(b)).knownRelays.find(r => r.peerId === s.peerId),
          undefined,
          `${b} knows ${name}`,
        )
    }
  })

  it('names, in every record and DHT entry, only addresses a public host dials and gets answers from', async function () {
    this.timeout(240_000)
    await reachable('relay-upnp', 'port-mapped')
    await reachable('bootstrap-2', 'public')
    await reachable('relay-cone', 'hole-punching')
    const records = [
      ...(await status('bootstrap-1')).knownRelays,
      ...(await status('bootstrap-2')).knownRelays,
    ]
    const inRecords = [...new Set(records.flatMap(r => r.addrs))]
    const server = the().machine('server')
    const b1 = `/ip4/${the().machine('bootstrap-1').address}/tcp/4001/p2p/${relay('bootstrap-1').peerId}`
    const view = JSON.parse(
      await server.ns.exec(
        process.execPath,
        [
          ...nodeArgs(new URL('./public-view.ts', import.meta.url)),
          String(json.id),
          b1,
          '4',
          stun.filter(a => a !== '--stun').join(','),
          ...inRecords,
        ],
        undefined,
        200_000,
      ),
    ) as PublicView
    const providers = view.providers.map(p => p.peer).sort()
    const publishing = ['bootstrap-1', 'bootstrap-2', 'relay-upnp', 'relay-cone']
      .map(n => relay(n).peerId)
      .sort()
    assert.deepEqual(providers, publishing, JSON.stringify(view))
    assert.deepEqual(
      records.map(r => r.peerId).filter(p => !publishing.includes(p)),
      [],
    )
    const named = [...inRecords, ...view.providers.flatMap(p => p.addrs)]
    for (const address of named)
      assert.ok(
        isDialableAddress(multiaddr(address)) || isPunchableAddress(multiaddr(address)),
        `${address} is neither dialable nor punchable`,
      )
    for (const d of view.dialled.filter(d => d.ok && d.errors.length > 0))
      console.log(
        `      (${d.address} answered after ${d.errors.length} failed dial(s): ${d.errors.join('; ')})`,
      )
    assert.deepEqual(
      view.dialled.filter(d => !d.ok),
      [],
      'every address in a record or DHT entry answers from the public segment',
    )
    assert.ok(view.dialled.length >= 4)
  })

  it('lets a consumer behind its own NAT fetch a file through the port-mapped and the hole-punched relay', async () => {
    await reachable('relay-upnp', 'port-mapped')
    const networkFile = join(work as string, 'network.json')
    writeFileSync(networkFile, JSON.stringify(json))
    const consumer = the().machine('consumer')
    const url = `http://${the().machine('server').address}:8080/file`
    for (const name of ['relay-upnp', 'relay-cone']) {
      const s = await reachable(name, name === 'relay-cone' ? 'hole-punching' : 'port-mapped')
      const proxy = consumer.ns.spawn(process.execPath, [
        ...nodeArgs(WEIR_ENTRY),
        'proxy',
        '--network',
        networkFile,
        ...s.addresses.flatMap(a => ['--relay', a]),
        '--socks',
        '127.0.0.1:0',
        ...stun,
      ])
      let stderr = ''
      proxy.stderr?.on('data', d => {
        stderr += d
      })
      try {
        const first = await new Promise<string>((resolve, reject) => {
          createInterface({ input: proxy.stdout as NodeJS.ReadableStream }).once('line', resolve)
          proxy.once('exit', code => reject(new Error(`weir proxy exited with ${code}: ${stderr}`)))
        })
        const socks = (JSON.parse(first) as { socks: string }).socks
        const sha = await consumer.ns.exec('sh', [
          '-c',
          `curl -sS --fail --max-time 30 --retry 5 --retry-all-errors --socks5-hostname ${socks} ${url} | sha256sum`,
        ])
        assert.equal(sha.split(' ')[0], fileSha256(), `${name}: ${stderr.slice(-2000)}`)
      } finally {
        proxy.kill()
      }
    }
  })
})
