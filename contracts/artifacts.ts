import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Abi, Hex } from 'viem'

export interface Artifact {
  abi: Abi
  bytecode: Hex
}

export type ContractName = 'WeirRewards'

const cache = new Map<ContractName, Artifact>()

/**
 * The compiled contract from contracts/artifacts/, which `npm run build` generates (it is not committed).
 * #root/ is the package root (package.json's "imports"): the same folder from the sources and from dist/.
 */
export function loadArtifact(name: ContractName): Artifact {
  const cached = cache.get(name)
  if (cached) return cached
  const root = dirname(createRequire(import.meta.url).resolve('#root/package.json'))
  const url = join(root, 'contracts', 'artifacts', `${name}.json`)
  if (!existsSync(url)) {
    throw new Error(
      `contract artifact ${name} is missing (contracts/artifacts/${name}.json): run \`npm run build\``,
    )
  }
  const artifact = JSON.parse(readFileSync(url, 'utf8')) as Artifact
  cache.set(name, artifact)
  return artifact
}
