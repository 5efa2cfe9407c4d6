import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import type { Command } from '../command.ts'
import { parseFlags } from '../args.ts'

export const command: Command = {
  summary: 'print the version of weir and of Node.js',
  usage: 'weir version',
  async run(argv) {
    parseFlags(argv, {})
    // #root/ is the package root (package.json's "imports"), from the sources or from dist/ alike
    const pkg = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('#root/package.json'), 'utf8'))
    console.log(`weir ${pkg.version} (node ${process.version})`)
    return 0
  },
}
