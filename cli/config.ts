import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONFIG_FILE } from '../node/host/datadir.ts'
import { type FlagSpec, UsageError } from './args.ts'

/** Keys of config.json that belong to the data dir, not to a command's flags. */
const DATA_DIR_KEYS = new Set(['payout'])

/**
 * Flags this process took from a config file, with the file: a command validates them as flags, so its
 * errors say `--flag`; blameConfig turns that into the file and key the value came from. One process
 * runs one command, so one table serves.
 */
const takenFromConfig = new Map<string, string>()

/**
 * argv with the settings of `DIR/config.json` (DIR from `--dir`) added before the command line's own,
 * so that flags win: a repeated flag given on the command line replaces the file's list, a single one
 * comes later and parseArgs keeps the last. Keys are the command's flag names without `--`.
 */
export function withConfigFile(argv: string[], spec: FlagSpec): string[] {
  const dir = flagValue(argv, 'dir')
  if (dir === undefined) return argv
  const path = join(dir, CONFIG_FILE)
  if (!existsSync(path)) return argv
  const fromFile: string[] = []
  for (const [key, value] of Object.entries(readConfigObject(path))) {
    if (DATA_DIR_KEYS.has(key)) continue
    const flag = spec[key]
    if (!flag || key === 'dir')
      throw new UsageError(`${path}: unknown key '${key}' (expected one of: ${settable(spec).join(', ')})`)
    if (argv.some(a => a === `--${key}` || a.startsWith(`--${key}=`))) continue
    fromFile.push(...tokens(path, key, flag, value))
    takenFromConfig.set(key, path)
  }
  return [...fromFile, ...argv]
}

/** A usage error's message with `--flag` replaced by the config file and key it came from. */
export function blameConfig(message: string): string {
  const m = /^--([a-z0-9-]+)/.exec(message)
  const path = m && takenFromConfig.get(m[1] as string)
  return path ? `${path}: ${m[1]}: ${message.slice(m[0].length).replace(/^[: ]+/, '')}` : message
}

function readConfigObject(path: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`${path}: expected JSON: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UsageError(`${path}: expected a JSON object of settings`)
  return json as Record<string, unknown>
}

function tokens(path: string, key: string, flag: FlagSpec[string], value: unknown): string[] {
  const wrong = (expected: string) =>
    new UsageError(`${path}: ${key}: expected ${expected}, got ${JSON.stringify(value)}`)
  if (flag.type === 'boolean') {
    if (typeof value !== 'boolean') throw wrong('true or false')
    return value ? [`--${key}`] : []
  }
  const one = (v: unknown) => {
    if (typeof v === 'string') return v
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v)
    throw wrong(flag.multiple ? 'a string or a list of strings' : 'a string')
  }
  const values = flag.multiple && Array.isArray(value) ? value.map(one) : [one(value)]
  return values.flatMap(v => [`--${key}`, v])
}

function settable(spec: FlagSpec): string[] {
  return Object.keys(spec).filter(k => k !== 'dir')
}

function flagValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === `--${name}`) return argv[i + 1]
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3)
  }
  return undefined
}
