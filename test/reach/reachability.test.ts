import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { initDataDir } from '../../node/host/datadir.ts'
import { isDialableAddress, type Reachability } from '../../node/host/reachability.ts'
import { EmulatedInternet, type Machine } from '../../simulations/internet/internet.ts'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'
import { testNetwork } from '../helpers/network.ts'
import { requireSystem } from '../helpers/requires.ts'
import { waitFor } from '../helpers/wait.ts'

// Real `weir relay` processes on an emulated Internet (simulations/internet/): relays on public hosts,
// one behind a router with a UPnP gateway, one behind a cone NAT without, one behind a symmetric NAT. On a
// network whose definition is not local, what each reports and what the network learns of it.

interface RelayStatus {
  peerId: string
  addresses: string[]
  reachability: Reachability
  knownRelays: { peerId: string; addrs: string[] }[]
}

interface PublicView {
  providers: { peer: string; addrs: string[] }[]
  dialled: { address: string; ok: boolean; error?: string }[]
}

const PAYOUT = `0x${'cd'.repeat(20)}` as const

describe('reachability on the emulated Internet (real relays behind real NATs)', function () {
  this.timeout(120_000)
  let net: EmulatedInternet | undefined
  let work: string | undefined
  const relays = new Map<string, { machine: Machine; peerId: string; status: string; stderr: () => string }>()
  const { json, network } = testNetwork({ label: 'reach', overrides: { id: 'reach-test', local: undefined } })

  before(async function () {
    requireSystem(this, { root: true, commands: ['ip', 'nft', 'miniupnpd', 'upnpc'] }, 'builds namespaces')
    work = mkdtempSync(join(tmpdir(), 'weir-reach-'))
    net = await EmulatedInternet.build({
      public: ['bootstrap-1', 'bootstrap-2', 'server'],
      homes: [
        { name: 'home-upnp', nat: 'upnp', hosts: ['relay-upnp'] },
        { name: 'home-cone', nat: 'cone', hosts: ['relay-cone'] },
        { name: 'home-symmetric', nat: 'symmetric', hosts: ['relay-symmetric'] },
      ],
    })
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

  it('reports the relays behind NATs without a mapping unreachable with why, and publishes no record of them', async () => {
    await reachable('relay-upnp', 'port-mapped')
    for (const name of ['relay-cone', 'relay-symmetric']) {
      const s = await status(name)
      assert.equal(s.reachability.state, 'unreachable', name)
      assert.match(s.reachability.reason, /behind a NAT .* no router mapped a port/, name)
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

  it('names, in every record and DHT entry, only addresses a public host dials and gets answers from', async () => {
    await reachable('relay-upnp', 'port-mapped')
    await reachable('bootstrap-2', 'public')
    const records = [
      ...(await status('bootstrap-1')).knownRelays,
      ...(await status('bootstrap-2')).knownRelays,
    ]
    const inRecords = [...new Set(records.flatMap(r => r.addrs))]
    const server = the().machine('server')
    const b1 = `/ip4/${the().machine('bootstrap-1').address}/tcp/4001/p2p/${relay('bootstrap-1').peerId}`
    const view = JSON.parse(
      await server.ns.exec(process.execPath, [
        ...nodeArgs(new URL('./public-view.ts', import.meta.url)),
        String(json.id),
        b1,
        '3',
        ...inRecords,
      ]),
    ) as PublicView
    const providers = view.providers.map(p => p.peer).sort()
    const publishing = ['bootstrap-1', 'bootstrap-2', 'relay-upnp'].map(n => relay(n).peerId).sort()
    assert.deepEqual(providers, publishing)
    assert.deepEqual(
      records.map(r => r.peerId).filter(p => !publishing.includes(p)),
      [],
    )
    const named = [...inRecords, ...view.providers.flatMap(p => p.addrs)]
    for (const address of named)
      assert.ok(isDialableAddress(multiaddr(address)), `${address} is not dialable`)
    assert.deepEqual(
      view.dialled.filter(d => !d.ok),
      [],
      'every address in a record or DHT entry answers from the public segment',
    )
    assert.ok(view.dialled.length >= 3)
  })
})
