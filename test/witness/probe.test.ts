import { strict as assert } from 'node:assert'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import { GoodputMeter, steadyRate } from '../../witness/goodput.ts'
import { Keystream } from '../../witness/payload.ts'
import { CircuitError, runProbe } from '../../witness/probe.ts'
import { HELLO_HEADER_BYTES, ProbeSink } from '../../witness/sink.ts'
import { startProxy, type ProxyOptions } from './fixtures.ts'

const PARAMS = { windowSeconds: 3, warmupSeconds: 1, timeoutSeconds: 8 }

function tcp(port: number) {
  return (signal: AbortSignal) =>
    new Promise<Duplex>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true })
      signal.addEventListener('abort', () => socket.destroy())
      socket.once('connect', () => resolve(socket))
      socket.once('error', () => reject(new CircuitError('unreachable', 'connect failed')))
    })
}

describe('witness payload and goodput', () => {
  it('keystreams are reproducible, direction-separated and checked byte by byte', () => {
    const key = new Uint8Array(32).fill(7)
    const a = new Keystream(key, 'forward').next(1000)
    assert.ok(new Keystream(key, 'forward').matches(a))
    assert.ok(!new Keystream(key, 'reverse').matches(a))
    const flipped = Buffer.from(a)
    flipped[999] = (flipped[999] as number) ^ 1
    assert.ok(!new Keystream(key, 'forward').matches(flipped))
  })

  it('spreads chunks over the time they took, so straddling chunks do not skew samples', () => {
    const meter = new GoodputMeter()
    // 100 kB every 300 ms = 333,333 B/s; chunk edges never line up with second boundaries
    for (let t = 0; t <= 4500; t += 300) meter.add(t, 100_000)
    const samples = meter.samples(4)
    for (const s of samples.slice(1)) assert.ok(Math.abs(s - 333_333) < 1, `sample ${s}`)
    assert.equal(steadyRate(samples, 1), 333_333)
  })

  it('takes the median after the warm-up', () => {
    assert.equal(steadyRate([999, 10, 30, 20], 1), 20)
    assert.equal(steadyRate([999, 10, 30], 1), 20)
    assert.equal(steadyRate([5], 1), 0)
  })
})

describe('witness probe over direct TCP', function () {
  this.timeout(30_000)
  let sink: ProbeSink
  const closers: Array<() => Promise<void>> = []
  before(async () => {
    sink = await ProbeSink.listen()
  })
  afterEach(async () => {
    for (const close of closers.splice(0)) await close()
  })
  after(async () => {
    await sink.close()
  })

  async function via(options: ProxyOptions) {
    const proxy = await startProxy({ host: sink.host, port: sink.port }, options)
    closers.push(proxy.close)
    return tcp(proxy.port)
  }

  it('measures a shaped path in both directions within 10%', async () => {
    const rate = 4_000_000
    const m = await runProbe(await via({ rate }), sink, PARAMS)
    assert.equal(m.outcome, 'ok')
    console.log(`      forward ${m.forwardBps} B/s, reverse ${m.reverseBps} B/s, rtt ${m.rttMs} ms`)
    for (const bps of [m.forwardBps, m.reverseBps]) {
      assert.ok(Math.abs(bps - rate) / rate < 0.1, `measured ${bps} B/s for a ${rate} B/s path`)
    }
    assert.ok(m.bytes > rate * 2 * (PARAMS.windowSeconds - 1))
    assert.ok(m.rttMs >= 0 && m.rttMs < 1000)
  })

  it('adds up its lanes over a window that starts once every lane carries bytes', async () => {
    const rate = 3_000_000
    const lanes = [await via({ rate }), await via({ rate, stallMs: 1500 })]
    // each window's circuits start 1.5 s apart: two 3 s windows need more than the usual 8 s
    const params = { ...PARAMS, timeoutSeconds: 12 }
    const m = await runProbe((signal, lane) => (lanes[lane] as (typeof lanes)[0])(signal), sink, params, {
      lanes: 2,
    })
    assert.equal(m.outcome, 'ok')
    console.log(`      two lanes, one 1.5 s late: forward ${m.forwardBps} B/s, reverse ${m.reverseBps} B/s`)
    for (const bps of [m.forwardBps, m.reverseBps]) {
      assert.ok(Math.abs(bps - 2 * rate) / (2 * rate) < 0.1, `measured ${bps} B/s over two ${rate} B/s lanes`)
    }
  })

  it('spreads its circuits over its lanes, each helper carrying as many, and adds them all up', async () => {
    const rate = 1_000_000
    const lanes = [await via({ rate }), await via({ rate })]
    const opened = [0, 0]
    const m = await runProbe(
      (signal, lane) => {
        opened[lane] = (opened[lane] ?? 0) + 1
        return (lanes[lane] as (typeof lanes)[0])(signal)
      },
      sink,
      PARAMS,
      { lanes: 2, circuits: 6 },
    )
    assert.equal(m.outcome, 'ok')
    // two windows, three circuits through each helper in each
    assert.deepEqual(opened, [6, 6])
    for (const bps of [m.forwardBps, m.reverseBps])
      assert.ok(
        Math.abs(bps - 2 * rate) / (2 * rate) < 0.1,
        `measured ${bps} B/s through two ${rate} B/s helpers`,
      )
  })

  it('reports corrupt when bytes are flipped in transit, with no capacity', async () => {
    const m = await runProbe(await via({ flipBits: true }), sink, PARAMS)
    assert.equal(m.outcome, 'corrupt')
    assert.equal(m.forwardBps, 0)
    assert.equal(m.reverseBps, 0)
  })

  it('reports timeout when the path swallows everything', async () => {
    const m = await runProbe(await via({ blackhole: true }), sink, { ...PARAMS, timeoutSeconds: 2 })
    assert.equal(m.outcome, 'timeout')
  })

  it('reports the circuit error when the circuit cannot be built', async () => {
    const refused = await runProbe(
      async () => {
        throw new CircuitError('refused', 'policy')
      },
      sink,
      PARAMS,
    )
    assert.equal(refused.outcome, 'refused')
    const closedPort = await via({})
    await closers.pop()?.()
    assert.equal((await runProbe(closedPort, sink, PARAMS)).outcome, 'unreachable')
  })

  it('ignores connections that do not name a registered probe', async () => {
    // a whole hello (a short one would only meet the hello timeout), unpadded, naming no registered probe
    const socket = connect({ port: sink.port, host: '127.0.0.1' })
    socket.write(Buffer.concat([Buffer.alloc(HELLO_HEADER_BYTES - 1, 1), Buffer.of(0)]))
    await new Promise(resolve => socket.once('close', resolve))
  })
})
