import assert from 'node:assert/strict'
import { NetworkDefinitionError } from '../../protocol/errors.ts'
import {
  defaultQuorum,
  loadNetworkDefinition,
  networkDefinitionToJson,
  parseNetworkDefinition,
} from '../../protocol/network.ts'
import { exampleJson, witnesses } from './fixtures.ts'

type Json = Record<string, unknown>

/** Applies `change` to a fresh copy of the example and expects the error to name `field`. */
function expectFieldError(change: (o: Json) => void, field: string): void {
  const o = exampleJson()
  change(o)
  assert.throws(
    () => parseNetworkDefinition(o),
    (err: unknown) => {
      assert.ok(err instanceof NetworkDefinitionError, `expected NetworkDefinitionError, got ${err}`)
      assert.equal(err.field, field, err.message)
      assert.ok(err.message.startsWith(`${field}: `))
      return true
    },
  )
}

const probe = (o: Json) => o.probe as Json
const committee = (o: Json) => o.committee as Json[]

describe('network definition', () => {
  it('loads the valid example and normalises it', () => {
    const net = parseNetworkDefinition(exampleJson())
    assert.equal(net.id, 'testnet-1')
    assert.equal(net.emissionPerEpoch, 10n ** 21n)
    assert.equal(net.genesisSeed.length, 32)
    assert.equal(net.quorum, 3)
    assert.deepEqual([...net.witnesses].sort(), witnesses.map(w => w.text).sort())
  })

  it('fills defaults: quorum ⌊2n/3⌋+1, eligibilityDelay 3, no relays, no bootstrap', () => {
    const o = exampleJson()
    delete o.quorum
    delete o.eligibilityDelay
    delete o.relays
    delete o.bootstrap
    const net = parseNetworkDefinition(o)
    assert.equal(net.quorum, defaultQuorum(4))
    assert.equal(net.quorum, 3)
    assert.equal(net.eligibilityDelay, 3)
    assert.deepEqual(net.relays, [])
    assert.deepEqual(net.bootstrap, [])
    assert.deepEqual([1, 2, 3, 4, 6, 7, 100].map(defaultQuorum), [1, 2, 3, 3, 5, 5, 67])
  })

  it('orders witnesses canonically whatever the input order', () => {
    const a = exampleJson()
    const b = exampleJson()
    ;(b.witnesses as string[]).reverse()
    assert.deepEqual(parseNetworkDefinition(a).witnesses, parseNetworkDefinition(b).witnesses)
  })

  it('round-trips through networkDefinitionToJson and JSON text', () => {
    const net = parseNetworkDefinition(exampleJson())
    const text = JSON.stringify(networkDefinitionToJson(net))
    assert.deepEqual(loadNetworkDefinition(text), net)
    assert.deepEqual(networkDefinitionToJson(loadNetworkDefinition(text)), networkDefinitionToJson(net))
  })

  it('is not local unless it says so, and keeps a local one local through its JSON form', () => {
    const plain = parseNetworkDefinition(exampleJson())
    assert.equal(plain.local, undefined)
    assert.equal('local' in networkDefinitionToJson(plain), false)
    const local = parseNetworkDefinition({ ...exampleJson(), local: true })
    assert.equal(local.local, true)
    assert.equal(loadNetworkDefinition(JSON.stringify(networkDefinitionToJson(local))).local, true)
  })

  it('lower-cases addresses', () => {
    const o = exampleJson()
    const signer = committee(o)[0]?.signer as string
    ;(committee(o)[0] as Json).signer = `0x${signer.slice(2).toUpperCase()}`
    assert.equal(parseNetworkDefinition(o).committee[0]?.signer, signer)
  })

  it('reports JSON syntax errors as (file)', () => {
    for (const text of ['{', '', '{"version": 1,}', 'nope']) {
      assert.throws(
        () => loadNetworkDefinition(text),
        (err: unknown) => err instanceof NetworkDefinitionError && err.field === '(file)',
      )
    }
  })

  const cases: [string, (o: Json) => void, string][] = [
    ['unknown top-level key', o => Object.assign(o, { extra: 1 }), 'extra'],
    ['version 2', o => Object.assign(o, { version: 2 }), 'version'],
    ['version as string', o => Object.assign(o, { version: '1' }), 'version'],
    ['id missing', o => delete o.id, 'id'],
    ['id upper case', o => Object.assign(o, { id: 'Test' }), 'id'],
    ['id too long', o => Object.assign(o, { id: 'a'.repeat(33) }), 'id'],
    ['id with NUL', o => Object.assign(o, { id: 'a\0b' }), 'id'],
    ['genesis negative', o => Object.assign(o, { genesis: -1 }), 'genesis'],
    ['genesis fractional', o => Object.assign(o, { genesis: 1.5 }), 'genesis'],
    ['genesis as string', o => Object.assign(o, { genesis: '0' }), 'genesis'],
    ['epochSeconds zero', o => Object.assign(o, { epochSeconds: 0 }), 'epochSeconds'],
    ['epochSeconds over a week', o => Object.assign(o, { epochSeconds: 7 * 24 * 3600 + 1 }), 'epochSeconds'],
    ['graceSeconds above epoch', o => Object.assign(o, { graceSeconds: 601 }), 'graceSeconds'],
    ['graceSeconds negative', o => Object.assign(o, { graceSeconds: -1 }), 'graceSeconds'],
    ['probe missing', o => delete o.probe, 'probe'],
    ['probe an array', o => Object.assign(o, { probe: [] }), 'probe'],
    ['probe unknown key', o => Object.assign(probe(o), { x: 1 }), 'probe.x'],
    ['window too short', o => Object.assign(probe(o), { windowSeconds: 1 }), 'probe.windowSeconds'],
    ['warmup ≥ window', o => Object.assign(probe(o), { warmupSeconds: 10 }), 'probe.warmupSeconds'],
    ['warmup as string', o => Object.assign(probe(o), { warmupSeconds: '1' }), 'probe.warmupSeconds'],
    ['timeout < 2 windows', o => Object.assign(probe(o), { timeoutSeconds: 19 }), 'probe.timeoutSeconds'],
    ['k zero', o => Object.assign(o, { witnessesPerRelay: 0 }), 'witnessesPerRelay'],
    ['k above witnesses', o => Object.assign(o, { witnessesPerRelay: 8 }), 'witnessesPerRelay'],
    ['m zero', o => Object.assign(o, { minAttestations: 0 }), 'minAttestations'],
    ['m above k', o => Object.assign(o, { minAttestations: 4 }), 'minAttestations'],
    ['witnesses not an array', o => Object.assign(o, { witnesses: 'x' }), 'witnesses'],
    ['no witnesses', o => Object.assign(o, { witnesses: [] }), 'witnesses'],
    ['bad witness', o => ((o.witnesses as string[])[2] = '12D3KooWnope'), 'witnesses[2]'],
    ['witness not a string', o => ((o.witnesses as unknown[])[1] = 5), 'witnesses[1]'],
    ['duplicate witness', o => (o.witnesses as string[]).push(witnesses[0]?.text as string), 'witnesses[7]'],
    ['no committee', o => Object.assign(o, { committee: [] }), 'committee'],
    ['member not an object', o => ((o.committee as unknown[])[1] = 'x'), 'committee[1]'],
    ['member unknown key', o => Object.assign(committee(o)[0] as Json, { x: 1 }), 'committee[0].x'],
    [
      'member bad peerId',
      o => Object.assign(committee(o)[1] as Json, { peerId: 'x' }),
      'committee[1].peerId',
    ],
    [
      'signer without 0x',
      o => Object.assign(committee(o)[2] as Json, { signer: 'ab'.repeat(20) }),
      'committee[2].signer',
    ],
    [
      'signer too short',
      o => Object.assign(committee(o)[2] as Json, { signer: `0x${'ab'.repeat(19)}` }),
      'committee[2].signer',
    ],
    [
      'signer not hex',
      o => Object.assign(committee(o)[3] as Json, { signer: `0x${'zz'.repeat(20)}` }),
      'committee[3].signer',
    ],
    [
      'duplicate member peerId',
      o => Object.assign(committee(o)[3] as Json, { peerId: committee(o)[0]?.peerId }),
      'committee[3]',
    ],
    [
      'duplicate signer',
      o => Object.assign(committee(o)[2] as Json, { signer: committee(o)[0]?.signer }),
      'committee[2]',
    ],
    ['quorum = 2n/3 (not more)', o => Object.assign(o, { quorum: 2 }), 'quorum'],
    ['quorum above n', o => Object.assign(o, { quorum: 5 }), 'quorum'],
    ['quorum zero', o => Object.assign(o, { quorum: 0 }), 'quorum'],
    ['genesisSeed short', o => Object.assign(o, { genesisSeed: 'ab'.repeat(31) }), 'genesisSeed'],
    ['genesisSeed not hex', o => Object.assign(o, { genesisSeed: 'zz'.repeat(32) }), 'genesisSeed'],
    ['genesisSeed missing', o => delete o.genesisSeed, 'genesisSeed'],
    ['eligibilityDelay negative', o => Object.assign(o, { eligibilityDelay: -1 }), 'eligibilityDelay'],
    ['eligibilityDelay huge', o => Object.assign(o, { eligibilityDelay: 1001 }), 'eligibilityDelay'],
    ['relays not an array', o => Object.assign(o, { relays: {} }), 'relays'],
    ['relay unknown key', o => Object.assign((o.relays as Json[])[0] as Json, { x: 1 }), 'relays[0].x'],
    [
      'relay bad payout',
      o => Object.assign((o.relays as Json[])[0] as Json, { payout: '0x12' }),
      'relays[0].payout',
    ],
    [
      'relay bad peerId',
      o => Object.assign((o.relays as Json[])[0] as Json, { peerId: '' }),
      'relays[0].peerId',
    ],
    ['duplicate relay', o => (o.relays as Json[]).push({ ...(o.relays as Json[])[0] }), 'relays[1]'],
    ['emission as number', o => Object.assign(o, { emissionPerEpoch: 1000 }), 'emissionPerEpoch'],
    ['emission leading zero', o => Object.assign(o, { emissionPerEpoch: '01' }), 'emissionPerEpoch'],
    ['emission negative', o => Object.assign(o, { emissionPerEpoch: '-1' }), 'emissionPerEpoch'],
    [
      'emission ≥ 2^128',
      o => Object.assign(o, { emissionPerEpoch: (1n << 128n).toString() }),
      'emissionPerEpoch',
    ],
    ['chain missing', o => delete o.chain, 'chain'],
    ['chain unknown key', o => Object.assign(o.chain as Json, { x: 1 }), 'chain.x'],
    ['chainId zero', o => Object.assign(o.chain as Json, { chainId: 0 }), 'chain.chainId'],
    ['rewards bad address', o => Object.assign(o.chain as Json, { rewards: '0x1' }), 'chain.rewards'],
    ['bootstrap not a multiaddr', o => Object.assign(o, { bootstrap: ['x'] }), 'bootstrap[0]'],
    [
      'bootstrap too many',
      o => Object.assign(o, { bootstrap: Array(101).fill('/ip4/1.2.3.4') }),
      'bootstrap',
    ],
    ['local false (it is true or left out)', o => Object.assign(o, { local: false }), 'local'],
  ]
  for (const [name, change, field] of cases) {
    it(`names ${field} when ${name}`, () => expectFieldError(change, field))
  }

  it('rejects a root that is not an object', () => {
    for (const value of [null, [], 'x', 1]) {
      assert.throws(
        () => parseNetworkDefinition(value),
        (err: unknown) => err instanceof NetworkDefinitionError && err.field === '(root)',
      )
    }
  })
})
