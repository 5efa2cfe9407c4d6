// What every JSON or YAML input of Weir shares: valibot schemas whose errors name the key path and say what was
// expected and what came instead (`probe.warmupSeconds: expected a whole number from 0 to 600, got "x"`).
import * as v from 'valibot'

/** A value as an error message shows it: JSON, cut to 80 characters. */
export const shown = (value: unknown): string => JSON.stringify(value)?.slice(0, 80) ?? String(value)

/** The message `expected WHAT, got VALUE`. */
export const expected =
  (what: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    `expected ${what}, got ${shown(issue.input)}`

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Any map of keys (not an array, not null). */
export const aMap = (what = 'an object') => v.custom<Record<string, unknown>>(isMap, expected(what))

/** A map with exactly these keys (absent optional ones aside): an array, a missing or an unknown key is refused. */
export function strictMap<const E extends v.ObjectEntries>(entries: E, what = 'an object') {
  const keys = Object.keys(entries).join(', ')
  return v.pipe(
    aMap(what),
    v.strictObject(entries, issue =>
      issue.expected === 'never' ? `unknown key (expected one of ${keys})` : 'required key missing',
    ),
  )
}

/** A safe integer from `min` to `max`. */
export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const message = expected(`a whole number from ${min} to ${max}`)
  return v.pipe(v.number(message), v.safeInteger(message), v.minValue(min, message), v.maxValue(max, message))
}

/** Where an issue is: `committee[2].signer`, or `(root)`. */
function pathOf(issue: v.BaseIssue<unknown>): string {
  let path = ''
  for (const item of issue.path ?? []) {
    const key = item.key
    path += typeof key === 'number' ? `[${key}]` : path === '' ? String(key) : `.${String(key)}`
  }
  return path || '(root)'
}

/**
 * Parses `value` with `schema`, stopping at the first issue; on one, throws what `fail(path, message)`
 * returns, so each kind of input keeps its own error class.
 */
export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  fail: (path: string, message: string) => Error,
): v.InferOutput<S> {
  const result = v.safeParse(schema, value, { abortEarly: true })
  if (result.success) return result.output
  const issue = result.issues[0]
  throw fail(pathOf(issue), issue.message)
}
