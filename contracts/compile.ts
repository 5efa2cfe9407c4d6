// Compiles contracts/*.sol with the pinned solc from npm into contracts/artifacts/<Name>.json ({abi, bytecode}).
// A stamp (hash of compiler version, settings, our sources and the OpenZeppelin version) skips the work when
// nothing changed, so `npm run build` stays fast.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
const artifactsDir = join(here, 'artifacts')
const stampFile = join(artifactsDir, '.stamp')

const SOLC_VERSION = '0.8.37'

const settings = {
  optimizer: { enabled: true, runs: 10_000 },
  evmVersion: 'cancun',
  viaIR: true,
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[]
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>
}

/** solc's import callback: package paths (`@openzeppelin/...`) come from node_modules. */
function findImport(path: string): { contents: string } | { error: string } {
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') }
  } catch {
    return { error: `import not found in node_modules: ${path}` }
  }
}

/** Compiles unless the stamp matches; returns whether it compiled and the contract names. */
export function compile(force = false): { compiled: boolean; contracts: string[] } {
  const solc = require('solc')
  const version: string = solc.version()
  // The artifacts (and the gas figures in docs/contracts.md) belong to this compiler.
  if (!version.startsWith(`${SOLC_VERSION}+`))
    throw new Error(`expected solc ${SOLC_VERSION}, found ${version}`)
  const sources: Record<string, { content: string }> = {}
  for (const file of readdirSync(here)
    .filter(f => f.endsWith('.sol'))
    .sort()) {
    sources[file] = { content: readFileSync(join(here, file), 'utf8') }
  }
  const openzeppelin: string = require('@openzeppelin/contracts/package.json').version
  const stamp = createHash('sha256')
    .update(JSON.stringify({ version, openzeppelin, settings, sources }))
    .digest('hex')
  const names = Object.keys(sources).map(f => f.replace(/\.sol$/, ''))
  const present = names.every(n => existsSync(join(artifactsDir, `${n}.json`)))
  if (!force && present && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    return { compiled: false, contracts: names }
  }

  const input = { language: 'Solidity', sources, settings }
  const output: SolcOutput = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }))
  const diagnostics = output.errors ?? []
  const errors = diagnostics.filter(e => e.severity === 'error')
  if (errors.length > 0)
    throw new Error(`solc ${version}:\n${errors.map(e => e.formattedMessage).join('\n')}`)
  for (const d of diagnostics) console.warn(d.formattedMessage)

  mkdirSync(artifactsDir, { recursive: true })
  for (const name of names) {
    const contract = output.contracts?.[`${name}.sol`]?.[name]
    if (!contract) throw new Error(`solc produced no contract ${name} in ${name}.sol`)
    const artifact = { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` }
    writeFileSync(join(artifactsDir, `${name}.json`), `${JSON.stringify(artifact, null, 2)}\n`)
  }
  writeFileSync(stampFile, stamp)
  return { compiled: true, contracts: names }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now()
  const { compiled, contracts } = compile(process.argv.includes('--force'))
  const what = compiled ? `compiled in ${Date.now() - started} ms` : 'unchanged'
  console.log(`contracts/artifacts: ${contracts.join(', ')} ${what}`)
}
