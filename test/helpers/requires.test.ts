import assert from 'node:assert/strict'
import {
  lacking,
  mochaGlobalSetup,
  mochaGlobalTeardown,
  requireSystem,
  type Skip,
  type SuiteContext,
  type SystemProbe,
  skipReport,
  systemRequirement,
} from './requires.ts'

const SKIPPED = new Error('skipped')

function fakeSuite(title: string): SuiteContext & { skipped: boolean } {
  return {
    skipped: false,
    skip(): never {
      this.skipped = true
      throw SKIPPED
    },
    test: { parent: { fullTitle: () => title } },
  }
}

function probe(root: boolean, commands: string[]): SystemProbe {
  return { isRoot: () => root, hasCommand: name => commands.includes(name) }
}

describe('requireSystem', () => {
  it('names what the machine lacks: root first, then commands in the order asked', () => {
    const needs = { root: true, commands: ['ip', 'nft', 'miniupnpd'] }
    assert.deepEqual(lacking(needs, probe(false, ['nft'])), ['root', 'ip', 'miniupnpd'])
    assert.deepEqual(lacking(needs, probe(true, ['ip', 'nft', 'miniupnpd'])), [])
    assert.deepEqual(lacking({ commands: ['ip'] }, probe(false, ['ip'])), [])
  })

  it('lets a suite run, recording nothing, when the machine has everything', () => {
    const skips: Skip[] = []
    const check = systemRequirement(probe(true, ['ip', 'nft']), s => skips.push(s))
    const suite = fakeSuite('reachability')
    check(suite, { root: true, commands: ['ip', 'nft'] }, 'network namespaces')
    assert.equal(suite.skipped, false)
    assert.deepEqual(skips, [])
  })

  it('skips a suite that lacks something and records the suite, the reason and what is missing', () => {
    const skips: Skip[] = []
    const check = systemRequirement(probe(false, ['ip']), s => skips.push(s))
    const suite = fakeSuite('reachability upnp')
    assert.throws(() => check(suite, { root: true, commands: ['ip', 'nft'] }, 'a UPnP gateway'), SKIPPED)
    assert.equal(suite.skipped, true)
    assert.deepEqual(skips, [{ suite: 'reachability upnp', why: 'a UPnP gateway', missing: ['root', 'nft'] }])
  })

  it('prints one block naming each skipped suite and why, and nothing when none skipped', () => {
    assert.equal(skipReport([]), '')
    const report = skipReport([
      { suite: 'upnp', why: 'maps a port through miniupnpd', missing: ['root', 'miniupnpd'] },
      { suite: 'netns', why: 'dials across namespaces', missing: ['ip'] },
    ])
    assert.equal(
      report,
      [
        'Skipped (needs root / packages): 2 suites',
        '  - netns: dials across namespaces (missing: ip)',
        '  - upnp: maps a port through miniupnpd (missing: root, miniupnpd)',
        '  Run as root with the packages .ci/run installs to run them.',
      ].join('\n'),
    )
  })

  it('carries skips from requireSystem to the end-of-run block through the ledger file', () => {
    const saved = process.env.WEIR_TEST_SKIPS
    const printed: string[] = []
    const log = console.log
    try {
      mochaGlobalSetup()
      const suite = fakeSuite('needs a command no machine has')
      assert.throws(
        () => requireSystem(suite, { commands: ['weir-test-no-such-command'] }, 'a test'),
        SKIPPED,
      )
      console.log = (line: string) => printed.push(line)
      mochaGlobalTeardown()
    } finally {
      console.log = log
      if (saved === undefined) delete process.env.WEIR_TEST_SKIPS
      else process.env.WEIR_TEST_SKIPS = saved
    }
    assert.equal(printed.length, 1)
    assert.match(
      printed[0] as string,
      /Skipped \(needs root \/ packages\): 1 suite\n {2}- needs a command no machine has: a test \(missing: weir-test-no-such-command\)/,
    )
  })
})
