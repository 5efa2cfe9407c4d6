// Suites that need root or system packages (network namespaces, nftables, a UPnP gateway) skip where
// those are missing, and the run ends with a list of what skipped and why, so a skip is never silent.
// .ci/run installs the packages and runs as root, so CI runs every suite. .mocharc.cjs loads this file as
// a plugin: its global fixtures run once in mocha's main process, around the workers of a parallel run.
import { accessSync, appendFileSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'

export interface SystemNeeds {
  root?: boolean
  /** commands looked up on PATH */
  commands?: string[]
}

/** What a machine offers: the one running the tests, or a fake one in the helper's own test. */
export interface SystemProbe {
  isRoot(): boolean
  hasCommand(name: string): boolean
}

export interface Skip {
  suite: string
  why: string
  missing: string[]
}

/** The part of a mocha context requireSystem uses (in a `before` hook, `this.test` is the hook). */
export interface SuiteContext {
  skip(): never
  test?: { parent?: { fullTitle(): string } | undefined } | undefined
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export const thisMachine: SystemProbe = {
  isRoot: () => process.getuid?.() === 0,
  hasCommand: name =>
    (process.env.PATH ?? '').split(delimiter).some(dir => dir && executable(join(dir, name))),
}

/** What the machine lacks of `needs`, in the order asked: 'root' first, then the missing commands. */
export function lacking(needs: SystemNeeds, probe: SystemProbe): string[] {
  const root = needs.root && !probe.isRoot() ? ['root'] : []
  return [...root, ...(needs.commands ?? []).filter(name => !probe.hasCommand(name))]
}

/** requireSystem over a given probe and record of skips. */
export function systemRequirement(probe: SystemProbe, record: (skip: Skip) => void) {
  return (ctx: SuiteContext, needs: SystemNeeds, why: string): void => {
    const missing = lacking(needs, probe)
    if (missing.length === 0) return
    record({ suite: ctx.test?.parent?.fullTitle() || '(root suite)', why, missing })
    ctx.skip()
  }
}

/** The block printed at the end of a run; empty when nothing skipped. */
export function skipReport(skips: Skip[]): string {
  if (skips.length === 0) return ''
  const lines = [...skips]
    .sort((a, b) => a.suite.localeCompare(b.suite))
    .map(s => `  - ${s.suite}: ${s.why} (missing: ${s.missing.join(', ')})`)
  return [
    `Skipped (needs root / packages): ${skips.length} suite${skips.length === 1 ? '' : 's'}`,
    ...lines,
    '  Run as root with the packages .ci/run installs to run them.',
  ].join('\n')
}

// Workers of a parallel run are separate processes: each skip is one JSON line in a file the main
// process names in the environment before the workers start.
const LEDGER = 'WEIR_TEST_SKIPS'

function recordSkip(skip: Skip): void {
  const file = process.env[LEDGER]
  if (!file) throw new Error(`requireSystem: no skip ledger (${LEDGER}); run mocha with .mocharc.cjs`)
  appendFileSync(file, `${JSON.stringify(skip)}\n`)
}

/**
 * Skips the calling suite unless this machine has what it needs; call it from the suite's `before` hook:
 * `before(function () { requireSystem(this, { root: true, commands: ['ip', 'nft'] }, 'why') })`.
 */
export const requireSystem = systemRequirement(thisMachine, recordSkip)

export function mochaGlobalSetup(): void {
  process.env[LEDGER] = join(mkdtempSync(join(tmpdir(), 'weir-skips-')), 'skips.jsonl')
}

export function mochaGlobalTeardown(): void {
  const file = process.env[LEDGER]
  if (!file) return
  const skips = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(line => line !== '')
        .map(line => JSON.parse(line) as Skip)
    : []
  rmSync(dirname(file), { recursive: true, force: true })
  const report = skipReport(skips)
  if (report) console.log(`\n${report}\n`)
}
