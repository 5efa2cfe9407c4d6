import assert from 'node:assert/strict'
import { Logger } from '../../../node/host/log.ts'
import { ProbeWatch } from '../../../node/relay/relay-health.ts'
import type { Attestation } from '../../../protocol/attestation.ts'
import type { NetworkDefinition } from '../../../protocol/network.ts'
import { type Registry, relayKey } from '../../../protocol/registry.ts'

// What a relay tells its operator about being probed: pure logic, fed by hand.

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
