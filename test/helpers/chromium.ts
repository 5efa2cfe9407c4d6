import { mkdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Chromium from '@sparticuz/chromium'
import { type Browser, chromium, type Page } from 'playwright-core'

/**
 * The Chromium that @sparticuz/chromium ships in its npm package, unpacked once per package version: the
 * package unpacks into the temp dir and reuses any `chromium` already there, whichever version left it.
 */
async function chromiumPath(): Promise<string> {
  const pkg = join(import.meta.dirname, '../../node_modules/@sparticuz/chromium/package.json')
  const dir = join(tmpdir(), `weir-chromium-${JSON.parse(readFileSync(pkg, 'utf8')).version}`)
  mkdirSync(dir, { recursive: true })
  const tmp = process.env.TMPDIR
  process.env.TMPDIR = dir
  try {
    return await Chromium.executablePath()
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = tmp
  }
}

/**
 * Headless Chromium with nothing of its own on the network (no updates, no sync), and `args` besides
 * (e.g. a proxy). Close it in an after hook.
 */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: await chromiumPath(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      ...args,
    ],
  })
}

/** Collects a page's console errors, uncaught exceptions and failed requests, as they happen. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('console', msg => {
    if (msg.type() === 'error') errors.push(msg.text())
  })
  page.on('pageerror', err => errors.push(err.message))
  page.on('requestfailed', req => errors.push(`request failed: ${req.url()}`))
  return errors
}
