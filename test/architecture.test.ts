import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

// The folder layout is the architecture (docs/ARCHITECTURE.md): arrows point one way, and no file
// reaches itself through its imports, type-only imports included.

const root = resolve(import.meta.dirname, '..')
const FOLDERS = ['protocol', 'node', 'witness', 'ledger', 'contracts', 'simulations', 'cli', 'bench', 'test']

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'artifacts' ? [] : sources(path)
    return e.name.endsWith('.ts') ? [path] : []
  })
}

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm

/** Each source file's imports: project files (repo-relative) and packages. */
function importGraph(): Map<string, { files: string[]; packages: string[] }> {
  const graph = new Map<string, { files: string[]; packages: string[] }>()
  for (const file of FOLDERS.flatMap(sources)) {
    const text = readFileSync(join(root, file), 'utf8')
    const specs = [...text.matchAll(IMPORT)].map(m => m[1] as string)
    graph.set(file, {
      files: specs.filter(s => s.startsWith('.')).map(s => relative(root, resolve(root, dirname(file), s))),
      packages: specs.filter(s => !s.startsWith('.')),
    })
  }
  return graph
}

function cycles(graph: Map<string, { files: string[] }>): string[] {
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const found: string[] = []
  const visit = (file: string) => {
    state.set(file, 'open')
    stack.push(file)
    for (const next of graph.get(file)?.files ?? []) {
      if (!graph.has(next)) continue
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '))
      else if (state.get(next) === undefined) visit(next)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file)
  return found
}

/** Which rooms a room may import from (besides itself). */
const ALLOWED: [room: string, may: string[]][] = [
  ['protocol/', []],
  ['node/host/', ['protocol/']],
  ['node/tunnel/', ['node/host/', 'protocol/']],
  ['node/network/', ['node/host/', 'protocol/']],
  ['node/relay/', ['node/host/', 'node/tunnel/', 'node/network/', 'protocol/']],
  ['node/proxy/', ['node/host/', 'node/tunnel/', 'node/network/', 'protocol/']],
  ['witness/', ['node/', 'protocol/']],
  ['contracts/', ['protocol/']],
  ['ledger/', ['node/host/', 'node/network/', 'contracts/', 'protocol/']],
  ['simulations/testnet/', ['node/', 'witness/', 'ledger/', 'contracts/', 'protocol/']],
  ['simulations/', ['protocol/']],
  ['cli/', ['node/', 'witness/', 'ledger/', 'contracts/', 'simulations/', 'protocol/']],
]

/** Packages the specification may use: encodings and hashes, no networking, storage or clocks. */
const PROTOCOL_PACKAGES = /^(node:crypto|cborg|@noble\/|multiformats\/|valibot$)/

describe('architecture', () => {
  const graph = importGraph()

  it('has no import cycles, type-only imports included', () => {
    assert.deepEqual(cycles(graph), [])
  })

  it('points every arrow one way between rooms', () => {
    const wrong: string[] = []
    for (const [file, { files }] of graph) {
      const rule = ALLOWED.find(([room]) => file.startsWith(room))
      if (!rule) continue
      const [room, may] = rule
      for (const target of files) {
        if (target.startsWith(room) || may.some(m => target.startsWith(m))) continue
        wrong.push(`${file} -> ${target}`)
      }
    }
    assert.deepEqual(wrong, [])
  })

  it('keeps protocol/ free of networking, storage and clocks', () => {
    const wrong = [...graph]
      .filter(([file]) => file.startsWith('protocol/'))
      .flatMap(([file, { packages }]) =>
        packages.filter(p => !PROTOCOL_PACKAGES.test(p)).map(p => `${file}: ${p}`),
      )
    assert.deepEqual(wrong, [])
  })

  it('never names one class twice', () => {
    const seen = new Map<string, string>()
    const twice: string[] = []
    for (const file of graph.keys()) {
      if (file.startsWith('test/')) continue
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(
        /^export (?:abstract )?class (\w+)/gm,
      )) {
        const name = m[1] as string
        const other = seen.get(name)
        if (other) twice.push(`${name}: ${other} and ${file}`)
        seen.set(name, file)
      }
    }
    assert.deepEqual(twice, [])
  })
})
