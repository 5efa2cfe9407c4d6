import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MonthlyQuota } from '../../../node/relay/quota.ts'
import { parseBytes, parseRate } from '../../../node/relay/rate.ts'
import { TokenBucket } from '../../../node/relay/token-bucket.ts'

describe('rates and shaping', () => {
  it('parses rates in decimal, binary and bit units', () => {
    assert.equal(parseRate('5MB/s'), 5_000_000)
    assert.equal(parseRate('500kB/s'), 500_000)
    assert.equal(parseRate('10Mbit/s'), 1_250_000)
    assert.equal(parseRate('1MiB/s'), 1_048_576)
    assert.equal(parseRate('123456'), 123_456)
    for (const bad of ['', 'fast', '5 parsecs/s', '0', '-5MB/s', '5MB/h'])
      assert.throws(() => parseRate(bad), RangeError)
    assert.equal(parseBytes('500GB'), 500e9)
    assert.throws(() => parseBytes('lots'), RangeError)
  })

  it('lets through exactly the rate over time, with a small burst', () => {
    let now = 0
    const bucket = new TokenBucket(1_000_000, () => now)
    let sent = 0
    // A sender that always obeys the wait it is given, for 10 simulated seconds of 64 KiB chunks.
    while (now < 10_000) {
      now += bucket.take(65_536)
      sent += 65_536
    }
    assert(Math.abs(sent / 10 - 1_000_000) < bucket.burst / 10 + 65_536, `sent ${sent} in 10 s`)
  })

  it('takes a new rate from the next chunk, keeping the debt and dropping savings above the new burst', () => {
    let now = 0
    const bucket = new TokenBucket(40_000_000, () => now)
    assert.equal(bucket.burst, 2_000_000)
    now += 1000 // saved up: a full burst
    bucket.setRate(1_000_000)
    assert.equal(bucket.burst, 1024 * 1024)
    // the savings shrank to the new burst: 1000 bytes more than that are a debt of 1 ms at the new rate,
    // and the chunk of 16 reference chunks pays for it 16 times over
    assert.equal(bucket.take(1024 * 1024 + 1000), (1 * (1024 * 1024 + 1000)) / 65_536)
    let sent = 0
    const start = now
    while (now - start < 10_000) {
      now += bucket.take(65_536)
      sent += 65_536
    }
    assert(Math.abs(sent / 10 - 1_000_000) < 65_536, `sent ${sent} in 10 s at the new rate`)
    assert.throws(() => bucket.setRate(0), RangeError)
  })

  it('gives busy senders equal rates whatever the sizes of their chunks', () => {
    let now = 0
    const bucket = new TokenBucket(2_000_000, () => now)
    // three senders that always obey the wait they are given, each sending its next chunk when due (paying
    // for the whole debt after every chunk, they got 1.63, 0.39 and 0.03 MB/s)
    const senders = [65_536, 16_384, 1_400].map(chunk => ({ chunk, due: 0, sent: 0 }))
    while (now < 20_000) {
      const next = senders.reduce((a, b) => (b.due < a.due ? b : a))
      now = next.due
      next.sent += next.chunk
      next.due = now + bucket.take(next.chunk)
    }
    const rates = senders.map(s => s.sent / 20)
    const total = rates.reduce((a, b) => a + b, 0)
    assert(Math.abs(total - 2_000_000) < bucket.burst / 20 + 20_000, `${total} B/s in all`)
    for (const r of rates)
      assert(Math.abs(r - total / 3) < (total / 3) * 0.15, `rates ${rates.map(Math.round)}`)
  })
})

describe('monthly quota', () => {
  it('refuses once spent, survives a restart, and starts over each calendar month', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-quota-'))
    try {
      const file = join(dir, 'usage.json')
      let now = Date.UTC(2026, 10, 30, 23, 0)
      const quota = new MonthlyQuota(1000, file, () => now)
      quota.add(999)
      assert.equal(quota.admit(), true)
      quota.add(1)
      assert.equal(quota.admit(), false)
      quota.flush()
      assert.equal(new MonthlyQuota(1000, file, () => now).admit(), false, 'restart keeps the count')
      now = Date.UTC(2026, 11, 1, 0, 1)
      assert.equal(quota.admit(), true)
      assert.equal(
        new MonthlyQuota(1000, file, () => now).usedBytes,
        0,
        'a saved count of last month is void',
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
