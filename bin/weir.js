#!/usr/bin/env node
// The installed command runs the compiled JavaScript that `npm run build` writes to dist/.
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/weir.js', import.meta.url)
if (!existsSync(entry)) {
  console.error(`weir: ${entry.pathname} is missing: run \`npm run build\` first`)
  process.exit(1)
}
await import(entry.href)
