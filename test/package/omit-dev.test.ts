import assert from 'node:assert/strict'
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

// What ships (the Docker image, an install without development dependencies): dist/, bin/, package.json
// and node_modules pruned by npm. A relay, a witness and a ledger must start from that tree alone.

const ROOT = join(import.meta.dirname, '../..')
const SHIPPED = ['protocol', 'node', 'witness', 'ledger', 'contracts', 'simulations', 'cli']

/** Shipped sources whose dist/ copy is missing or older: this test runs what `npm run build` last wrote. */
function staleInDist(): string[] {
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap(e => {
      const path = join(dir, e.name)
      if (e.isDirectory()) return e.name === 'artifacts' ? [] : sources(path)
      return e.name.endsWith('.ts') && path !== join('contracts', 'compile.ts') ? [path] : []
    })
  return SHIPPED.flatMap(sources).filter(source => {
    const compiled = join(ROOT, 'dist', source.replace(/\.ts$/, '.js'))
    return !existsSync(compiled) || statSync(compiled).mtimeMs < statSync(join(ROOT, source)).mtimeMs
  })
}

/** node_modules as `npm prune --omit=dev --omit=optional` leaves it (optional: TypeScript, viem's peer). */
function pruneCopy(tree: string): void {
  const from = join(ROOT, 'node_modules')
  const to = join(tree, 'node_modules')
  // Hard links where the temp dir shares the repository's file system: nothing here writes into a package,
  // and npm's own record of the tree (.package-lock.json) is removed first so prune writes a new file.
  if (spawnSync('cp', ['-al', from, to]).status !== 0) {
    rmSync(to, { recursive: true, force: true })
    cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  }
  rmSync(join(to, '.package-lock.json'), { force: true })
  execFileSync(
    'npm',
    [
      'prune',
      '--omit=dev',
      '--omit=optional',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
    ],
    { cwd: tree, stdio: ['ignore', 'ignore', 'pipe'] },
  )
}

describe('package: a relay, a witness and a ledger run from the tree without development dependencies', function () {
  this.timeout(120_000)
  let tree: string
  const children = new Set<ChildProcess>()

  /** `weir …` from the pruned tree, in it; resolves with its first stdout line as JSON. */
  const start = (args: string[]) =>
    new Promise<Record<string, string>>((resolve, reject) => {
      const child = spawn(process.execPath, [join(tree, 'bin', 'weir.js'), ...args], {
        cwd: tree,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      children.add(child)
      let stderr = ''
      child.stderr?.on('data', d => {
        stderr = (stderr + d).slice(-4000)
      })
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', line =>
        resolve(JSON.parse(line)),
      )
      child.once('exit', code => reject(new Error(`weir ${args[0]} exited with ${code}: ${stderr}`)))
    })
  const run = (args: string[]) =>
    execFileSync(process.execPath, [join(tree, 'bin', 'weir.js'), ...args], { cwd: tree, encoding: 'utf8' })

  before(() => {
    const stale = staleInDist()
    assert.deepEqual(stale, [], 'dist/ is missing or older than these sources: run `npm run build`')
    tree = mkdtempSync(join(tmpdir(), 'weir-omit-dev-'))
    for (const part of ['dist', 'bin', 'package.json', 'package-lock.json'])
      cpSync(join(ROOT, part), join(tree, part), { recursive: true })
    pruneCopy(tree)
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
    if (tree) rmSync(tree, { recursive: true, force: true })
  })

  it('has no development dependency to lean on', () => {
    for (const dev of ['tsx', 'typescript', 'mocha', '@foundry-rs/anvil', 'solc'])
      assert.equal(existsSync(join(tree, 'node_modules', dev)), false, `${dev} is in the pruned tree`)
  })

  it('serves /status (relay, witness) and /healthz (ledger) on 127.0.0.1', async () => {
    const net = join(tree, 'net')
    run(['network', 'new', '--out', net, '--witnesses', '1', '--committee', '1', '--epoch-seconds', '60'])
    const network = join(net, 'network.json')
    run(['init', '--dir', join(tree, 'relay'), '--network', network, '--payout', `0x${'ab'.repeat(20)}`])
    const ledgerDir = join(net, 'ledger-1')
    const [relay, witness, ledger] = await Promise.all([
      start(['relay', '--dir', join(tree, 'relay'), '--status', '127.0.0.1:0']),
      start(['witness', '--dir', join(net, 'witness-1'), '--status', '127.0.0.1:0']),
      start([
        'ledger',
        '--dir',
        ledgerDir,
        '--signer-key',
        join(ledgerDir, 'signer.key'),
        '--api',
        '127.0.0.1:0',
      ]),
    ])
    for (const url of [
      `http://${relay?.status}/status`,
      `http://${witness?.status}/status`,
      `http://${ledger?.api}/healthz`,
    ]) {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\//)
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
      assert.equal(response.status, 200, url)
      assert.equal(typeof (await response.json()), 'object', url)
    }
  })

  it('refuses `weir testnet` with a clear message: a local chain needs the development tree', () => {
    const testnet = spawnSync(
      process.execPath,
      [join(tree, 'bin', 'weir.js'), 'testnet', '--out', join(tree, 'testnet')],
      { cwd: tree, encoding: 'utf8' },
    )
    assert.equal(testnet.status, 1, testnet.stderr)
    assert.match(testnet.stderr, /Anvil is not installed: @foundry-rs\/anvil is a development dependency/)
  })
})
