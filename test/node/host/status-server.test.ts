import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import {
  readCounter,
  readGauge,
  type StatusServer,
  startStatusServer,
} from '../../../node/host/status-server.ts'

/** A node's status source whose counts the test moves. */
function source(name: string) {
  const counts = { open: 0, in: 0, out: 0 }
  const metrics = new Registry()
  readGauge(metrics, 'weir_test_open', 'Open now.', () => counts.open)
  readCounter(metrics, 'weir_test_bytes_total', 'Bytes by direction.', ['direction'], () => [
    [{ direction: 'in' }, counts.in],
    [{ direction: 'out' }, counts.out],
  ])
  return { counts, source: { status: () => ({ name }), metrics } }
}

describe('status server', () => {
  const servers: StatusServer[] = []
  after(() => Promise.all(servers.map(s => s.close())))

  it('serves each node its own /metrics, read when scraped, and /status', async () => {
    const a = source('a')
    const b = source('b')
    for (const node of [a, b]) servers.push(await startStatusServer('127.0.0.1', 0, node.source))
    const [atA, atB] = servers.map(s => `http://${s.address}`)
    a.counts.open = 2
    a.counts.in = 10
    b.counts.out = 7

    const scrape = async (base: string | undefined) => {
      const res = await fetch(`${base}/metrics`)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
      return res.text()
    }
    const textA = await scrape(atA)
    assert.match(textA, /^# HELP weir_test_open Open now\.\n# TYPE weir_test_open gauge\nweir_test_open 2$/m)
    assert.match(textA, /^# TYPE weir_test_bytes_total counter$/m)
    assert.match(textA, /^weir_test_bytes_total\{direction="in"\} 10$/m)
    assert.match(await scrape(atB), /^weir_test_bytes_total\{direction="out"\} 7$/m)

    // A counter shows the count it reads, not a sum over scrapes.
    a.counts.in = 25
    const again = await scrape(atA)
    assert.match(again, /^weir_test_bytes_total\{direction="in"\} 25$/m)
    assert.match(again, /^weir_test_bytes_total\{direction="out"\} 0$/m)

    assert.deepEqual(await (await fetch(`${atB}/status`)).json(), { name: 'b' })
    assert.equal((await fetch(`${atA}/other`)).status, 404)
  })
})
