/** Severity, most severe first: a logger at `info` writes error, warn and info. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFormat = 'text' | 'json'
export type LogFields = Record<string, string | number | boolean | null | undefined>

export interface LogEntry {
  time: number
  level: LogLevel
  role: string
  msg: string
  remedy?: string
  fields: LogFields
}

export interface LoggerOptions {
  role: string
  level?: LogLevel
  format?: LogFormat
  /** where lines go (stderr by default: a role's first stdout line is its JSON start-up record) */
  write?: (line: string) => void
  now?: () => number
}

const RECENT = 50

/**
 * A role's log: human-readable lines by default, JSON lines on request, filtered by level. Problems an
 * operator can act on carry a remedy and are logged once until they clear, so a relay that stays
 * unreachable for a day says so once, not every minute; the latest warnings and errors are kept for the
 * dashboard.
 */
export class Logger {
  level: LogLevel
  private readonly format: LogFormat
  private readonly write: (line: string) => void
  private readonly now: () => number
  private readonly open = new Map<string, string>()
  private readonly recentProblems: LogEntry[] = []

  constructor(private readonly o: LoggerOptions) {
    this.level = o.level ?? 'info'
    this.format = o.format ?? 'text'
    this.write = o.write ?? (line => process.stderr.write(`${line}\n`))
    this.now = o.now ?? Date.now
  }

  error(msg: string, fields: LogFields = {}): void {
    this.log('error', msg, fields)
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.log('warn', msg, fields)
  }
  info(msg: string, fields: LogFields = {}): void {
    this.log('info', msg, fields)
  }
  debug(msg: string, fields: LogFields = {}): void {
    this.log('debug', msg, fields)
  }

  /**
   * A problem the operator can fix, logged (as a warning unless told) when it first appears or changes,
   * with what to do about it; `key` names the condition (e.g. 'reachability'), so repeats stay quiet.
   */
  problem(
    key: string,
    msg: string,
    remedy: string,
    fields: LogFields = {},
    level: 'warn' | 'error' = 'warn',
  ): void {
    if (this.open.get(key) === msg) return
    this.open.set(key, msg)
    this.log(level, msg, fields, remedy)
  }

  /**
   * The condition `key` is over: logged once, and a later problem of that key is news again. Returns
   * whether it was logged (whether the problem was open).
   */
  resolved(key: string, msg: string, fields: LogFields = {}): boolean {
    if (!this.open.delete(key)) return false
    this.log('info', msg, fields)
    return true
  }

  /** The latest warnings and errors, newest last (whatever the level lets through). */
  recent(): readonly LogEntry[] {
    return this.recentProblems
  }

  private log(level: LogLevel, msg: string, fields: LogFields, remedy?: string): void {
    const entry: LogEntry = { time: this.now(), level, role: this.o.role, msg, fields }
    if (remedy !== undefined) entry.remedy = remedy
    if (level === 'error' || level === 'warn') {
      this.recentProblems.push(entry)
      if (this.recentProblems.length > RECENT) this.recentProblems.shift()
    }
    if (LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf(this.level)) return
    this.write(this.format === 'json' ? jsonLine(entry) : textLine(entry))
  }
}

function jsonLine(e: LogEntry): string {
  const { fields, time, ...rest } = e
  return JSON.stringify({ time: new Date(time).toISOString(), ...rest, ...fields })
}

function textLine(e: LogEntry): string {
  const extra = Object.entries(e.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
  const remedy = e.remedy === undefined ? '' : ` (what to do: ${e.remedy})`
  const tail = extra.length > 0 ? ` [${extra.join(' ')}]` : ''
  return `${new Date(e.time).toISOString()} ${e.level.toUpperCase().padEnd(5)} ${e.role}: ${e.msg}${remedy}${tail}`
}

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text)
}
