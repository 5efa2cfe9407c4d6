import { parseArgs } from 'node:util'

/** A command-line mistake: the message names the flag or file and what was expected. */
export class UsageError extends Error {
  override name = 'UsageError'
}

export type FlagSpec = Record<
  string,
  { type: 'string' | 'boolean'; multiple?: boolean; short?: string; default?: string | boolean }
>

/** Parses argv strictly against `spec`; unknown flags and stray positionals are usage errors. */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, positionals = 0) {
  try {
    const parsed = parseArgs({ args: argv, options: spec, allowPositionals: positionals > 0, strict: true })
    if (parsed.positionals.length > positionals) {
      throw new UsageError(`unexpected argument '${parsed.positionals[positionals]}'`)
    }
    return parsed
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ''))
  }
}

export function requireFlag(value: string | undefined, flag: string, expected: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${flag} is required: ${expected}`)
  return value
}

export function intFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  min = 0,
  max = 2 ** 31,
): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${flag} expects a whole number from ${min} to ${max}, got '${value}'`)
  }
  return Number(value)
}

/** `HOST:PORT` or `[IPv6]:PORT`. */
export function hostPortFlag(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[3]) : -1
  if (!m || port > 65535)
    throw new UsageError(`--${flag} expects HOST:PORT (e.g. 127.0.0.1:8080), got '${value}'`)
  return { host: (m[1] ?? m[2]) as string, port }
}

export function addressFlag(value: string | undefined, flag: string): `0x${string}` {
  const text = requireFlag(value, flag, 'a 0x-prefixed 20-byte contract address')
  if (!/^0x[0-9a-fA-F]{40}$/.test(text))
    throw new UsageError(`--${flag} expects a 0x-prefixed 20-byte address, got '${text}'`)
  return text as `0x${string}`
}

export function urlFlag(value: string | undefined, flag: string, example: string): string {
  const text = requireFlag(value, flag, `a URL such as ${example}`)
  try {
    const url = new URL(text)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error()
  } catch {
    throw new UsageError(`--${flag} expects an http(s) URL such as ${example}, got '${text}'`)
  }
  return text
}
