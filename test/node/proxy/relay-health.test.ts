import assert from 'node:assert/strict'
import { RelayHealth } from '../../../node/proxy/relay-health.ts'

describe('relay back-off', () => {
  it('skips a failed relay for a back-off that doubles with each failure, up to a ceiling', () => {
    let now = 0
    const health = new RelayHealth({ baseMs: 1000, maxMs: 5000, now: () => now })
    assert.equal(health.skipped('a'), false)
    assert.deepEqual(
      [1, 2, 3, 4].map(() => health.failed('a')),
      [1000, 2000, 4000, 5000],
    )
    assert.equal(health.skipped('a'), true)
    assert.equal(health.skipped('b'), false)
    now = 4999
    assert.equal(health.skipped('a'), true)
    now = 5000
    assert.equal(health.skipped('a'), false, 'tried again once the back-off is over')
    assert.equal(health.failed('a'), 5000, 'still failing: the back-off stays at its ceiling')
  })

  it('forgives a relay at its first success', () => {
    const health = new RelayHealth({ baseMs: 1000 })
    health.failed('a')
    health.failed('a')
    health.succeeded('a')
    assert.equal(health.skipped('a'), false)
    assert.equal(health.backedOffUntil('a'), undefined)
    assert.equal(health.failed('a'), 1000)
  })
})
