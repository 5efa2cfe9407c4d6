import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The unit operators copy (docs/systemd/weir-relay.service), checked the way systemd itself reads it.
const unitFile = new URL('../../docs/systemd/weir-relay.service', import.meta.url)
const weir = new URL('../../bin/weir.js', import.meta.url).pathname

describe('docs: the systemd unit', () => {
  let dir: string
  let unit: string

  before(function () {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) this.skip()
    dir = mkdtempSync(join(tmpdir(), 'weir-systemd-'))
    unit = join(dir, 'weir-relay.service')
    // verify checks that ExecStart's program exists: point it at this checkout's weir.
    const text = readFileSync(unitFile, 'utf8')
    assert.match(text, /^ExecStart=\/usr\/local\/bin\/weir relay /m)
    writeFileSync(unit, text.replace('/usr/local/bin/weir', `${process.execPath} ${weir}`))
  })

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('passes systemd-analyze verify', () => {
    const run = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    assert.equal(run.stderr.trim(), '')
  })

  it('is rated OK (exposure at most 2.0) by systemd-analyze security', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit], {
      encoding: 'utf8',
    })
    const level = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(out)
    assert.ok(level, out)
    assert.ok(Number(level[1]) <= 2, `exposure ${level[1]} ${level[2]}`)
    for (const setting of ['NoNewPrivileges=', 'ProtectSystem=', 'PrivateDevices=', 'RestrictSUIDSGID='])
      assert.match(out, new RegExp(`✓ ${setting}`), setting)
  })
})
