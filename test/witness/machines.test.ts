import { strict as assert } from 'node:assert'
import { MAX_MACHINE_IDENTITIES, machineOf, machineOfIp, Together } from '../../witness/colocation.ts'

describe('co-location (pure)', () => {
  it('names a machine by its IPv4 address or its IPv6 /64', () => {
    assert.equal(machineOfIp('127.0.1.3'), 'ip4/127.0.1.3')
    assert.equal(machineOfIp('::ffff:10.0.0.1'), 'ip4/10.0.0.1')
    assert.equal(machineOfIp('2001:db8:0:1::5'), machineOfIp('2001:0db8:0000:0001:ffff::1'))
    assert.notEqual(machineOfIp('2001:db8:0:1::5'), machineOfIp('2001:db8:0:2::5'))
    assert.equal(machineOfIp('::1'), 'ip6/0:0:0:0::/64')
    assert.equal(machineOfIp('example.org'), undefined)
  })

  it('probes a target with the identities of its machine, those it attests first, at most 16', () => {
    const machines = new Map([
      ['t', 'm'],
      ['a', 'm'],
      ['b', 'other'],
    ])
    for (let i = 0; i < 30; i++) machines.set(`x${i}`, 'm')
    const all = [...machines.keys()]
    const chosen = machineOf('t', machines, all, p => p === 'x29', Math.random)
    assert.equal(chosen.length, MAX_MACHINE_IDENTITIES)
    assert.deepEqual(chosen.slice(0, 2), ['t', 'x29'])
    assert.ok(!chosen.includes('b'))
    assert.deepEqual(
      machineOf('b', machines, all, () => false, Math.random),
      ['b'],
    )
    assert.deepEqual(
      machineOf('unknown', machines, all, () => false, Math.random),
      ['unknown'],
    )
  })

  it('holds each phase until every party still running has arrived', async () => {
    const together = new Together(3)
    const [a, b, c] = [together.party(), together.party(), together.party()]
    const signal = new AbortController().signal
    let released = false
    const waiting = Promise.all([a.arrive('forward', signal), b.arrive('forward', signal)]).then(() => {
      released = true
    })
    await new Promise(resolve => setTimeout(resolve, 20))
    assert.equal(released, false)
    c.leave()
    await waiting
    // the party that left is not waited for in later phases either
    await Promise.all([a.arrive('reverse', signal), b.arrive('reverse', signal)])
  })
})
