import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { type ContractName, loadArtifact } from '../../contracts/artifacts.ts'
import { abiFile, abiModule, artifactsCurrent } from '../../contracts/compile.ts'

describe('contracts/abi.ts', () => {
  it('is what the build generates from the compile of today’s sources', () => {
    assert.ok(artifactsCurrent(), 'contracts/artifacts/ is older than the sources: run `npm run build`')
    const names: ContractName[] = ['WeirRewards']
    const expected = abiModule(Object.fromEntries(names.map(name => [name, [...loadArtifact(name).abi]])))
    assert.ok(
      readFileSync(abiFile, 'utf8') === expected,
      'contracts/abi.ts differs from the compiled ABI: run `npm run build` and commit it',
    )
  })
})
