import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { EmulatedInternet, type Machine } from '../../simulations/internet/internet.ts'
import { namespacesNamed } from '../../simulations/internet/netns.ts'
import { requireSystem } from '../helpers/requires.ts'

// A TCP server that tells each client the address and port it saw, and a client that prints that line
// (or its error code): run inside namespaces with this machine's own node.
const TELLER = `require('net').createServer(s => s.end(s.remoteAddress + ':' + s.remotePort + '\\n'))
  .listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'))`
const ASKER = `const [host, port, from] = process.argv.slice(1)
  const s = require('net').connect({ host, port: Number(port), localPort: from ? Number(from) : undefined, timeout: 3000 })
  s.on('data', d => process.stdout.write(String(d)))
  s.on('timeout', () => { console.log('ETIMEDOUT'); process.exit(0) })
  s.on('error', e => { console.log(e.code); process.exit(0) })`

describe('emulated Internet (network namespaces, NAT routers, a UPnP gateway)', function () {
  this.timeout(60_000)
  let net: EmulatedInternet | undefined
  const tellers: ChildProcess[] = []

  before(async function () {
    requireSystem(this, { root: true, commands: ['ip', 'nft', 'miniupnpd', 'upnpc'] }, 'builds namespaces')
    net = await EmulatedInternet.build({
      public: ['server-a', 'server-b'],
      homes: [
        { name: 'upnp', nat: 'upnp', hosts: ['upnp-host'] },
        { name: 'cone', nat: 'cone', hosts: ['cone-host'] },
        { name: 'sym', nat: 'symmetric', hosts: ['sym-host'] },
      ],
    })
    for (const name of ['server-a', 'server-b', 'upnp-host']) await teller(name, 4001)
  })

  after(async () => {
    await net?.close()
  })

  const the = () => net as EmulatedInternet
  async function teller(name: string, port: number) {
    const child = the()
      .machine(name)
      .ns.spawn(process.execPath, ['-e', TELLER, String(port)])
    tellers.push(child)
    const first = await createInterface({ input: child.stdout as NodeJS.ReadableStream })
      [Symbol.asyncIterator]()
      .next()
    assert.equal(first.value, 'listening')
  }
  const ask = async (from: Machine, host: string, port = 4001, localPort?: number) =>
    (
      await from.ns.exec(process.execPath, [
        '-e',
        ASKER,
        host,
        String(port),
        ...(localPort ? [String(localPort)] : []),
      ])
    ).trim()

  it('has no way out: the core routes nothing beyond the plan', async () => {
    assert.match(
      await ask(the().machine('server-a'), '1.1.1.1', 80),
      /^(EHOSTUNREACH|ENETUNREACH|ETIMEDOUT)$/,
    )
    assert.match(
      await ask(the().machine('cone-host'), '1.1.1.1', 80),
      /^(EHOSTUNREACH|ENETUNREACH|ETIMEDOUT)$/,
    )
  })

  it('lets home hosts out from their router’s address and nobody in', async () => {
    const router = the().router('cone')
    const seen = await ask(the().machine('cone-host'), the().machine('server-a').address)
    assert.equal(seen.split(':')[0], router.address)
    const inside = the().machine('cone-host').address
    assert.match(await ask(the().machine('server-a'), inside), /^(EHOSTUNREACH|ENETUNREACH|ETIMEDOUT)$/)
    assert.match(await ask(the().machine('server-a'), router.address), /^(ECONNREFUSED|ETIMEDOUT)$/)
  })

  it('keeps one outside port per inside port behind a cone NAT, and draws one per destination behind a symmetric NAT', async () => {
    const via = async (host: string, localPort: number) => {
      const outside = []
      for (const server of ['server-a', 'server-b'])
        outside.push(
          (await ask(the().machine(host), the().machine(server).address, 4001, localPort)).split(':')[1],
        )
      return outside
    }
    assert.deepEqual(await via('cone-host', 40_100), ['40100', '40100'])
    const symmetric = await via('sym-host', 40_101)
    assert.notEqual(symmetric[0], symmetric[1], `symmetric NAT used port ${symmetric[0]} twice`)
  })

  it('maps a port through the UPnP gateway, which public hosts then reach', async () => {
    const host = the().machine('upnp-host')
    const router = the().router('upnp')
    assert.match(await ask(the().machine('server-a'), router.address), /^(ECONNREFUSED|ETIMEDOUT)$/)
    const added = await host.ns.exec('upnpc', ['-a', host.address, '4001', '4001', 'TCP'])
    assert.match(added, new RegExp(`external ${router.address.replace(/\./g, '\\.')}:4001 TCP is redirected`))
    const seen = await ask(the().machine('server-a'), router.address)
    assert.equal(seen.split(':')[0], the().machine('server-a').address)
  })

  it('removes every namespace it made, after a failed build too', async () => {
    const prefix = `wi${process.pid}x`
    await assert.rejects(EmulatedInternet.build({ public: ['twin', 'twin'], homes: [] }, prefix), /twin/)
    assert.deepEqual(await namespacesNamed(`${prefix}-`), [])
    const built = the().prefix
    await the().close()
    assert.deepEqual(await namespacesNamed(`${built}-`), [])
  })
})
