import assert from 'node:assert/strict'
import { leaseGate, ProbeLeases } from '../../../simulations/testnet/probe-leases.ts'

const takeLease = (url: string, relays: string[], signal: AbortSignal) => leaseGate(url).enter(relays, signal)
import { waitFor } from '../../helpers/wait.ts'

// A request is granted or queued as soon as it arrives: once it is queued, it was not granted.
const queued = (leases: ProbeLeases, n: number) =>
  waitFor(() => leases.queued === n, { what: `${n} requests waiting` })

describe('testnet probe leases', () => {
  let leases: ProbeLeases
  afterEach(() => leases?.close())

  it('never lets two probes share a relay, and grants in order of asking', async () => {
    leases = await ProbeLeases.listen(2)
    const stop = new AbortController()
    const first = await takeLease(leases.url, ['a', 'b'], stop.signal)
    const needsA = takeLease(leases.url, ['a', 'c'], stop.signal)
    await queued(leases, 1)
    // c and d are free and there is room for a second probe, but a,c asked first and waits for a
    const later = takeLease(leases.url, ['d'], stop.signal)
    await queued(leases, 2)
    assert.equal(leases.held, 1, 'd waits behind a,c')
    await first()
    const [second, third] = await Promise.all([needsA, later])
    assert.equal(leases.held, 2)
    await second()
    await third()
    assert.equal(leases.held, 0)
  })

  it('holds at most `concurrency` leases at once', async () => {
    leases = await ProbeLeases.listen(1)
    const stop = new AbortController()
    const first = await takeLease(leases.url, ['a'], stop.signal)
    const second = takeLease(leases.url, ['b'], stop.signal)
    await queued(leases, 1)
    assert.equal(leases.held, 1, 'b waits though it shares no relay')
    await first()
    await (await second)()
  })

  it('drops a request its witness gave up on, and ends a lease nobody released after its time limit', async () => {
    leases = await ProbeLeases.listen(2, 300)
    const release = await takeLease(leases.url, ['a'], new AbortController().signal)
    const impatient = new AbortController()
    const waiting = takeLease(leases.url, ['a'], impatient.signal)
    await queued(leases, 1)
    impatient.abort()
    await assert.rejects(waiting)
    await release()
    // the abandoned request neither took the relay nor holds back the next one
    await takeLease(leases.url, ['a'], new AbortController().signal)
    assert.equal(leases.held, 1)
    await takeLease(leases.url, ['a'], new AbortController().signal)
    assert.equal(leases.held, 1, 'the unreleased lease ended after 300 ms and the next one was granted')
  })

  it('answers 400 to a request without relays', async () => {
    leases = await ProbeLeases.listen(1)
    for (const body of ['{}', '{"relays":[]}', '{"relays":[1]}', 'not json']) {
      const r = await fetch(`${leases.url}/lease`, { method: 'POST', body })
      assert.equal(r.status, 400, body)
    }
    assert.equal((await fetch(`${leases.url}/nothing`)).status, 404)
  })
})
