import { isLogLevel, LOG_LEVELS, Logger, type LogFormat, type LogLevel } from '../node/host/log.ts'
import { type FlagSpec, UsageError } from './args.ts'

/** The flags every long-running role takes for its log. */
export const LOG_FLAGS = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const satisfies FlagSpec

export const LOG_USAGE = '[--log-level error|warn|info|debug] [--log-format text|json]'

export function logLevelFlag(value: string | undefined): LogLevel {
  if (value === undefined) return 'info'
  if (!isLogLevel(value))
    throw new UsageError(`--log-level expects one of ${LOG_LEVELS.join(', ')}, got '${value}'`)
  return value
}

export function logFormatFlag(value: string | undefined): LogFormat {
  if (value === undefined) return 'text'
  if (value !== 'text' && value !== 'json')
    throw new UsageError(`--log-format expects text or json, got '${value}'`)
  return value
}

/** A role's logger from its --log-level and --log-format (validated: usage errors name the flag). */
export function roleLogger(
  role: string,
  values: { 'log-level'?: string | undefined; 'log-format'?: string | undefined },
): Logger {
  return new Logger({
    role,
    level: logLevelFlag(values['log-level']),
    format: logFormatFlag(values['log-format']),
  })
}
