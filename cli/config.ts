import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONFIG_FILE } from '../node/host/datadir.ts'
import { type FlagSpec, parseFlags, UsageError } from './args.ts'

/** Keys of config.json that belong to the data dir, not to a command's flags. */
const DATA_DIR_KEYS = new Set(['payout'])

export type FlagValues<S extends FlagSpec> = ReturnType<typeof parseFlags<S>>['values']

/** One reading of a command's settings: its flags with the config file's settings under them. */
export interface Settings<S extends FlagSpec> {
  values: FlagValues<S>
  /** the config file read, when there was one */
  file: string | undefined
  /** the keys whose values came from the file */
  fromFile: ReadonlySet<string>
  /**
   * Runs `read` on the values; a usage error it throws about a `--flag` whose value came from the file
   * is rethrown naming the file and key instead, since the operator never typed that flag.
   */
  check<T>(read: (values: FlagValues<S>) => T): T
}

/**
 * The command line's flags with the settings of `DIR/config.json` (DIR from `--dir`) under them: flags
 * win, and a repeated flag given on the command line replaces the file's list. Keys are the command's
 * flag names without `--`. Read again on every call, so a running role can reload its file.
 */
export function readSettings<S extends FlagSpec>(argv: string[], spec: S): Settings<S> {
  const { argv: full, file, fromFile } = withConfigFile(argv, spec)
  const blame = (err: unknown) => (err instanceof UsageError ? blameConfig(err, file, fromFile) : err)
  let values: FlagValues<S>
  try {
    values = parseFlags(full, spec).values
  } catch (err) {
    throw blame(err)
  }
  return {
    values,
    file,
    fromFile,
    check(read) {
      try {
        return read(values)
      } catch (err) {
        throw blame(err)
      }
    },
  }
}

/** argv with the config file's settings added before the command line's own (see readSettings). */
export function withConfigFile(
  argv: string[],
  spec: FlagSpec,
): { argv: string[]; file: string | undefined; fromFile: Set<string> } {
  const fromFile = new Set<string>()
  const dir = flagValue(argv, 'dir')
  const path = dir === undefined ? undefined : join(dir, CONFIG_FILE)
  if (path === undefined || !existsSync(path)) return { argv, file: undefined, fromFile }
  const added: string[] = []
  for (const [key, value] of Object.entries(readConfigObject(path))) {
    if (DATA_DIR_KEYS.has(key)) continue
    const flag = spec[key]
    if (!flag || key === 'dir')
      throw new UsageError(`${path}: unknown key '${key}' (expected one of: ${settable(spec).join(', ')})`)
    if (argv.some(a => a === `--${key}` || a.startsWith(`--${key}=`))) continue
    added.push(...tokens(path, key, flag, value))
    fromFile.add(key)
  }
  return { argv: [...added, ...argv], file: path, fromFile }
}

/** A usage error with `--flag` replaced by the config file and key, when the value came from there. */
function blameConfig(err: UsageError, file: string | undefined, fromFile: ReadonlySet<string>): UsageError {
  const m = /^--([a-z0-9-]+)/.exec(err.message)
  if (!m || file === undefined || !fromFile.has(m[1] as string)) return err
  return new UsageError(`${file}: ${m[1]}: ${err.message.slice(m[0].length).replace(/^[: ]+/, '')}`)
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
