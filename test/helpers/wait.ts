// Tests wait on conditions, never on a guessed delay: `waitFor` polls a check until it holds.

export interface WaitOptions {
  /** what is awaited, for the timeout message: "waiting for <what>" */
  what: string
  timeoutMs?: number
  intervalMs?: number
}

/**
 * Polls `check` until it returns something other than undefined or false, and resolves with that. A
 * check that throws counts as not yet (a server still starting refuses connections); the last error is
 * in the timeout message.
 */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { what, timeoutMs = 10_000, intervalMs = 50 }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last check failed: ${(lastError as Error).message})`
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`)
    }
    await sleep(intervalMs)
  }
}

/**
 * Lets time pass. Only for what time itself is the subject of: a moment on the network's clock, a pace
 * (a publisher's throttle), or proving that something does *not* happen within a while.
 */
export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
