import { readFileSync } from 'node:fs'
import type { Command } from '../command.ts'
import { parseFlags } from '../args.ts'

export const command: Command = {
  summary: 'print the version of weir and of Node.js',
  usage: 'weir version',
  async run(argv) {
    parseFlags(argv, {})
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    console.log(`weir ${pkg.version} (node ${process.version})`)
    return 0
  },
}
