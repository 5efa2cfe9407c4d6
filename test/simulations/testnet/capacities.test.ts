import assert from 'node:assert/strict'
import { spreadCapacities } from '../../../simulations/testnet/testnet.ts'

describe('testnet relay capacities', () => {
  it('spread from 1 MB/s to 20 MB/s by default, in whole 100 kB/s', () => {
    assert.deepEqual(spreadCapacities(5), [1_000_000, 5_800_000, 10_500_000, 15_300_000, 20_000_000])
    assert.deepEqual(spreadCapacities(1), [10_000_000])
  })

  it('spread up to a lower top when asked', () => {
    assert.deepEqual(
      spreadCapacities(5, 12_000_000),
      [1_000_000, 3_800_000, 6_500_000, 9_300_000, 12_000_000],
    )
  })
})
