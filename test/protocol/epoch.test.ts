import assert from 'node:assert/strict'
import fc from 'fast-check'
import { epochAt, epochEnd, epochStart, graceEnd, isTimely } from '../../protocol/epoch.ts'

const clock = { genesis: 1_000_000, epochSeconds: 60, graceSeconds: 10 }

describe('epoch clock', () => {
  it('places instants at the edges of epochs', () => {
    assert.equal(epochAt(clock, 999_999), -1)
    assert.equal(epochAt(clock, 1_000_000), 0)
    assert.equal(epochAt(clock, 1_059_999), 0)
    assert.equal(epochAt(clock, 1_060_000), 1)
    assert.equal(epochStart(clock, 0), 1_000_000)
    assert.equal(epochStart(clock, 3), 1_180_000)
    assert.equal(epochEnd(clock, 3), 1_240_000)
    assert.equal(graceEnd(clock, 3), 1_250_000)
  })

  it('accepts the current epoch and a past one within grace, nothing else', () => {
    assert.equal(isTimely(clock, 0, 999_999), false) // before genesis
    assert.equal(isTimely(clock, 0, 1_000_000), true)
    assert.equal(isTimely(clock, 1, 1_059_999), false) // future
    assert.equal(isTimely(clock, 1, 1_060_000), true)
    assert.equal(isTimely(clock, 0, 1_069_999), true) // grace of epoch 0
    assert.equal(isTimely(clock, 0, 1_070_000), false) // stale
    assert.equal(isTimely(clock, -1, 1_000_000), false)
    assert.equal(isTimely({ ...clock, graceSeconds: 0 }, 0, 1_060_000), false)
  })

  it('epochAt inverts epochStart/epochEnd', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(59_999), (epoch, offset) => {
        const at = epochStart(clock, epoch) + offset
        assert.equal(epochAt(clock, at), epoch)
        assert.equal(epochEnd(clock, epoch), epochStart(clock, epoch + 1))
        assert.equal(isTimely(clock, epoch, at), true)
        assert.equal(isTimely(clock, epoch + 1, at), false)
      }),
    )
  })
})
