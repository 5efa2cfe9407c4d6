import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import type { Host } from '../../../node/host/host.ts'
import { Logger } from '../../../node/host/log.ts'
import { ProbeWatch, watchDialable } from '../../../node/relay/relay-health.ts'
import type { Attestation } from '../../../protocol/attestation.ts'
import type { NetworkDefinition } from '../../../protocol/network.ts'
import { type Registry, relayKey } from '../../../protocol/registry.ts'

// What a relay tells its operator about being reachable and probed: pure logic, fed by hand.

function logger() {
  const lines: { level: string; msg: string; remedy?: string }[] = []
  const log = new Logger({
    role: 'relay',
    format: 'json',
    level: 'info',
    write: l => lines.push(JSON.parse(l)),
  })
  return { log, lines }
}

/** Just what watchDialable reads of a libp2p host. */
function fakeHost(addresses: string[]) {
  const listeners = new Set<() => void>()
  const host = {
    getMultiaddrs: () => addresses.map(a => multiaddr(a)),
    addEventListener: (_: string, f: () => void) => listeners.add(f),
    removeEventListener: (_: string, f: () => void) => listeners.delete(f),
  }
  return {
    host: host as unknown as Host,
    update(next: string[]) {
      addresses = next
      for (const f of listeners) f()
    },
  }
}

describe('relay health: dialable address', () => {
  it('on a loopback testnet, loopback addresses will do', () => {
    const { log, lines } = logger()
    const { host } = fakeHost(['/ip4/127.0.0.1/tcp/4001'])
    watchDialable(host, ['/ip4/127.0.0.1/tcp/5000'], log)()
    assert.deepEqual(lines, [])
  })

  it('with public bootstrap peers, says once that only private addresses are no good, and when that ends', () => {
    const { log, lines } = logger()
    const { host, update } = fakeHost(['/ip4/127.0.0.1/tcp/4001', '/ip4/192.168.1.5/tcp/4001'])
    const stop = watchDialable(host, ['/ip4/203.0.114.7/tcp/4001/p2p/x', '/dns4/boot.example/tcp/4001'], log)
    update(['/ip4/127.0.0.1/tcp/4001', '/ip4/192.168.1.5/tcp/4001', '/ip4/10.0.0.2/tcp/4001'])
    update(['/ip4/127.0.0.1/tcp/4001', '/ip4/198.51.99.3/tcp/4001'])
    stop()
    assert.deepEqual(
      lines.map(l => [l.level, l.msg, l.remedy]),
      [
        [
          'warn',
          "no dialable address: the relay listens only on loopback or private addresses, which the network's peers cannot reach",
          'listen on a public address (--listen /ip4/0.0.0.0/tcp/4001) and forward that TCP port on the router to this machine',
        ],
        ['info', 'this relay has a dialable address again', undefined],
      ],
    )
  })

  it('says so when the relay listens nowhere', () => {
    const { log, lines } = logger()
    watchDialable(fakeHost([]).host, [], log)()
    assert.equal(lines[0]?.msg, 'no dialable address: the relay listens nowhere')
  })
})

describe('relay health: no probe this epoch', () => {
  const network = {
    genesis: 0,
    epochSeconds: 60,
    graceSeconds: 10,
    eligibilityDelay: 2,
  } as unknown as NetworkDefinition
  const self = new Uint8Array([0, 36, 8, 1, 18, 32, ...new Array(32).fill(7)])
  const registered = (registeredIn: number): Registry =>
    new Map([[relayKey(self), { relay: self, registeredIn, payout: `0x${'ab'.repeat(20)}` as const }]])
  const attestation = (epoch: number, outcome: string, relay = self) =>
    ({ epoch, relay, outcome }) as unknown as Attestation

  function watch(registeredIn: number, seedKnown = true) {
    const { log, lines } = logger()
    const probes = new ProbeWatch({
      network,
      relay: self,
      registryFor: () => registered(registeredIn),
      seedKnown: () => seedKnown,
      log,
      now: () => 0,
    })
    return { probes, lines }
  }

  it('says once, with the remedy, that eligible epochs pass without an attestation, and when one measures it', () => {
    const { probes, lines } = watch(0)
    probes.note(attestation(2, 'ok', new Uint8Array(38)))
    probes.check(2)
    probes.check(3)
    probes.note(attestation(4, 'timeout'))
    probes.check(4)
    probes.note(attestation(5, 'timeout'))
    probes.note(attestation(5, 'ok'))
    probes.check(5)
    assert.deepEqual(
      lines.map(l => [l.level, l.msg]),
      [
        ['warn', 'no probe this epoch: no witness attested to this relay'],
        ['warn', 'no probe this epoch measured this relay: witnesses attested failures'],
        ['info', 'witnesses measure this relay again'],
      ],
    )
    assert.match(lines[0]?.remedy ?? '', /witnesses must be able to dial this relay/)
  })

  it('stays quiet before the relay is eligible, and about epochs whose seed it does not know', () => {
    const early = watch(5)
    early.probes.check(6)
    assert.deepEqual(early.lines, [])
    const seedless = watch(0, false)
    seedless.probes.check(4)
    assert.deepEqual(seedless.lines, [])
  })
})
