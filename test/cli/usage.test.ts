import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Runs the CLI in-process, capturing what it prints; every case here fails before anything listens.
 * Imported dynamically: a static import would load cli/ as CommonJS beside the ES modules that
 * `main` imports lazily, and `instanceof UsageError` would then compare two copies of the class.
 */
async function weir(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../../cli/main.ts')
  const out: string[] = []
  const err: string[] = []
  const { log, error } = console
  console.log = (...a: unknown[]) => out.push(a.join(' '))
  console.error = (...a: unknown[]) => err.push(a.join(' '))
  try {
    const code = await main(argv)
    return { code, out: out.join('\n'), err: err.join('\n') }
  } finally {
    console.log = log
    console.error = error
  }
}

describe('cli: help and usage errors', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weir-cli-'))
    writeFileSync(join(dir, 'bad.key'), 'not a key\n', { mode: 0o600 })
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('lists every command with its summary, and each command prints its usage', async () => {
    const top = await weir('--help')
    assert.equal(top.code, 0)
    const names = [...top.out.matchAll(/^ {2}(\S+) {2,}\S/gm)].map(m => m[1] as string)
    assert.ok(names.length >= 12, top.out)
    for (const name of names) {
      const r = await weir(name, '--help')
      assert.equal(r.code, 0, name)
      assert.match(r.out, new RegExp(`usage: weir ${name}`))
    }
  })

  it('exits 2 on an unknown command and names it', async () => {
    const r = await weir('frobnicate')
    assert.equal(r.code, 2)
    assert.match(r.err, /unknown command 'frobnicate'/)
  })

  const endpoints = ['--ledger', 'http://127.0.0.1:1', '--rpc', 'http://127.0.0.1:1']
  const contract = `0x${'1'.repeat(40)}`
  const cases: [string[], RegExp][] = [
    [['anchor'], /--ledger is required/],
    [['anchor', '--ledger', 'ftp://x', '--rpc', 'http://127.0.0.1:1'], /--ledger expects an http\(s\) URL/],
    [
      ['anchor', ...endpoints, '--contract', '0x12'],
      /--contract expects a 0x-prefixed 20-byte address, got '0x12'/,
    ],
    [['claim', ...endpoints, '--contract', contract], /--key is required/],
    [
      ['claim', ...endpoints, '--contract', contract, '--key', 'BADKEY'],
      /--key: .*bad\.key: expected a secp256k1 secret key/,
    ],
    [['claim', '--frob'], /Unknown option '--frob'/],
    [['ledger', '--rpc', 'http://127.0.0.1:1'], /--rpc, --contract and --anchor-key go together/],
    [['witness', '--dir', 'x', '--ledger', 'nope'], /--ledger expects an http\(s\) URL/],
    [['witness', '--dir', 'x', '--sink', '0.0.0.0:9000'], /--sink is the address relays connect to/],
    [['witness', '--dir', 'x', '--sink', '[::]:9000'], /--sink is the address relays connect to/],
    [['relay', '--dir', 'x', '--max-bandwidth', 'fast'], /--max-bandwidth/],
    [['network', 'new', '--out', 'x', '--committee', 'abc'], /--committee expects a whole number/],
    [['contracts', 'deploy', '--rpc', 'localhost'], /--rpc expects an http\(s\) URL/],
    [['sim', 'simulations/scenarios/baseline.yaml', '--runs', 'many'], /--runs expects a whole number/],
    [['sim', 'NOFILE'], /: [^:]*none\.yaml: cannot read \(ENOENT\)/],
  ]
  for (const [argv, message] of cases) {
    it(`exits 2 and names the flag: weir ${argv.join(' ')}`, async () => {
      const r = await weir(
        ...argv.map(a =>
          a === 'BADKEY' ? join(dir, 'bad.key') : a === 'NOFILE' ? join(dir, 'none.yaml') : a,
        ),
      )
      assert.equal(r.code, 2, r.err)
      assert.match(r.err, message)
      assert.match(r.err, new RegExp(`usage: weir ${argv[0]}`))
    })
  }

  it('makes local networks unless told --internet, and there refuses to announce a private address', async () => {
    const made = async (name: string, ...flags: string[]) => {
      const out = join(dir, name)
      const r = await weir('network', 'new', '--out', out, '--witnesses', '1', '--committee', '1', ...flags)
      assert.equal(r.code, 0, r.err)
      return join(out, 'network.json')
    }
    const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    assert.equal(read(await made('local-net')).local, true)
    const internet = await made('internet-net', '--internet')
    assert.equal('local' in read(internet), false)
    const relayDir = join(dir, 'internet-relay')
    const init = await weir(
      'init',
      '--dir',
      relayDir,
      '--network',
      internet,
      '--payout',
      `0x${'ab'.repeat(20)}`,
    )
    assert.equal(init.code, 0, init.err)
    const privateOne = await weir('relay', '--dir', relayDir, '--announce', '/ip4/192.168.1.5/tcp/4001')
    assert.equal(privateOne.code, 2, privateOne.err)
    assert.match(privateOne.err, /--announce \/ip4\/192\.168\.1\.5\/tcp\/4001: a loopback or private address/)
    const notOne = await weir('relay', '--dir', relayDir, '--announce', 'my-router')
    assert.equal(notOne.code, 2, notOne.err)
    assert.match(
      notOne.err,
      /--announce expects a multiaddr such as \/ip4\/203\.0\.113\.7\/tcp\/4001, got 'my-router'/,
    )
  })

  it("exits 2 and names the config file's key when a setting there is wrong", async () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ 'max-tunnels': 'many' }))
    const r = await weir('relay', '--dir', dir)
    assert.equal(r.code, 2, r.err)
    assert.match(r.err, /config\.json: max-tunnels: expects a whole number/)
  })
})
