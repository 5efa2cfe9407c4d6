import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FlagSpec, intFlag, UsageError } from '../../cli/args.ts'
import { LOG_FLAGS, logFormatFlag, logLevelFlag } from '../../cli/log-flags.ts'
import { readSettings, withConfigFile } from '../../cli/config.ts'

const SPEC = {
  dir: { type: 'string' },
  listen: { type: 'string', multiple: true },
  'max-bandwidth': { type: 'string' },
  'max-tunnels': { type: 'string' },
  'allow-private-exits': { type: 'boolean' },
} as const satisfies FlagSpec

describe('cli: settings from the data dir config file', () => {
  let dir: string
  const config = (settings: Record<string, unknown>) =>
    writeFileSync(join(dir, 'config.json'), JSON.stringify(settings))

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'weir-config-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('adds every setting as a flag, before the command line', () => {
    config({
      payout: `0x${'1'.repeat(40)}`,
      listen: ['/ip4/0.0.0.0/tcp/4001', '/ip6/::/tcp/4001'],
      'max-tunnels': 64,
      'allow-private-exits': true,
    })
    assert.deepEqual(withConfigFile(['--dir', dir], SPEC).argv, [
      '--listen',
      '/ip4/0.0.0.0/tcp/4001',
      '--listen',
      '/ip6/::/tcp/4001',
      '--max-tunnels',
      '64',
      '--allow-private-exits',
      '--dir',
      dir,
    ])
  })

  it('lets flags win, lists included', () => {
    config({ listen: ['/ip4/0.0.0.0/tcp/4001'], 'max-bandwidth': '5MB/s' })
    const argv = [`--dir=${dir}`, '--listen', '/ip4/127.0.0.1/tcp/0', '--max-bandwidth', '1MB/s']
    assert.deepEqual(withConfigFile(argv, SPEC).argv, argv)
  })

  it('needs no file, and leaves argv alone without --dir', () => {
    assert.deepEqual(withConfigFile(['--dir', dir], SPEC).argv, ['--dir', dir])
    assert.deepEqual(withConfigFile(['--listen', 'x'], SPEC).argv, ['--listen', 'x'])
  })

  it('refuses unknown keys and wrong types, naming the file and key', () => {
    const path = join(dir, 'config.json')
    const cases: [Record<string, unknown> | string, RegExp][] = [
      [{ 'max-bandwith': '5MB/s' }, /unknown key 'max-bandwith' \(expected one of: listen, max-bandwidth/],
      [{ dir: '/elsewhere' }, /unknown key 'dir'/],
      [{ 'max-tunnels': [1] }, /max-tunnels: expected a string, got \[1\]/],
      [{ listen: [4001.5] }, /listen: expected a string or a list of strings/],
      [{ 'allow-private-exits': 'yes' }, /allow-private-exits: expected true or false/],
      ['{"listen": ', /expected JSON/],
      ['[]', /expected a JSON object of settings/],
    ]
    for (const [settings, message] of cases) {
      if (typeof settings === 'string') writeFileSync(path, settings)
      else config(settings)
      assert.throws(
        () => withConfigFile(['--dir', dir], SPEC),
        (err: Error) => err.message.startsWith(`${path}: `) && message.test(err.message),
        JSON.stringify(settings),
      )
    }
  })

  it("blames the file for a flag's error when the value came from it, per reading", () => {
    const tunnels = (v: { 'max-tunnels'?: string }) => intFlag(v['max-tunnels'], 'max-tunnels', 1, 1, 100_000)
    config({ 'max-tunnels': 'many' })
    const fromFile = readSettings(['--dir', dir], SPEC)
    assert.deepEqual([...fromFile.fromFile], ['max-tunnels'])
    assert.throws(
      () => fromFile.check(tunnels),
      new UsageError(
        `${join(dir, 'config.json')}: max-tunnels: expects a whole number from 1 to 100000, got 'many'`,
      ),
    )
    // the same key typed on the command line is the flag's fault, whatever an earlier reading found
    const typed = readSettings(['--dir', dir, '--max-tunnels', 'lots'], SPEC)
    assert.throws(
      () => typed.check(tunnels),
      new UsageError("--max-tunnels expects a whole number from 1 to 100000, got 'lots'"),
    )
    config({ 'max-tunnels': 'many', 'allow-private-exits': 7 })
    assert.throws(() => readSettings(['--dir', dir], SPEC), /allow-private-exits: expected true or false/)
  })

  it('takes the log flags from the file too, refusing bad levels and formats by key', () => {
    const spec = { dir: { type: 'string' }, ...LOG_FLAGS } as const satisfies FlagSpec
    config({ 'log-level': 'debug', 'log-format': 'json' })
    const ok = readSettings(['--dir', dir], spec)
    assert.equal(
      ok.check(v => logLevelFlag(v['log-level'])),
      'debug',
    )
    assert.equal(
      ok.check(v => logFormatFlag(v['log-format'])),
      'json',
    )
    config({ 'log-level': 'verbose', 'log-format': 'xml' })
    const bad = readSettings(['--dir', dir], spec)
    assert.throws(
      () => bad.check(v => logLevelFlag(v['log-level'])),
      new UsageError(
        `${join(dir, 'config.json')}: log-level: expects one of error, warn, info, debug, got 'verbose'`,
      ),
    )
    assert.throws(() => bad.check(v => logFormatFlag(v['log-format'])), /log-format: expects text or json/)
  })
})
