import '../node/host/runtime.ts'
import { UsageError } from './args.ts'

import type { Command } from './command.ts'

const commands: Record<string, () => Promise<{ command: Command }>> = {
  anchor: () => import('./commands/anchor.ts'),
  claim: () => import('./commands/claim.ts'),
  contracts: () => import('./commands/contracts.ts'),
  earnings: () => import('./commands/earnings.ts'),
  init: () => import('./commands/init.ts'),
  ledger: () => import('./commands/ledger.ts'),
  network: () => import('./commands/network.ts'),
  proxy: () => import('./commands/proxy.ts'),
  relay: () => import('./commands/relay.ts'),
  testnet: () => import('./commands/testnet.ts'),
  sim: () => import('./commands/sim.ts'),
  version: () => import('./commands/version.ts'),
  witness: () => import('./commands/witness.ts'),
}

function help(): string {
  return [
    'weir — peer-to-peer bandwidth sharing that measures, and rewards, the bandwidth people share',
    '',
    'usage: weir <command> [flags]       weir <command> --help for its flags',
    '',
    'commands:',
    ...Object.keys(commands).map(name => `  ${name}`),
  ].join('\n')
}

async function describe(): Promise<string> {
  const lines = await Promise.all(
    Object.entries(commands).map(
      async ([name, load]) => `  ${name.padEnd(18)} ${(await load()).command.summary}`,
    ),
  )
  return help().replace(/commands:\n[\s\S]*$/, `commands:\n${lines.join('\n')}`)
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await describe())
    return 0
  }
  if (name === '--version') return main(['version'])
  const load = commands[name]
  if (!load) {
    console.error(`weir: unknown command '${name}'\n\n${await describe()}`)
    return 2
  }
  const { command } = await load()
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${command.summary}\n\nusage: ${command.usage}`)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`weir ${name}: ${err.message}\nusage: ${command.usage}`)
      return 2
    }
    console.error(`weir ${name}: ${(err as Error).message}`)
    return 1
  }
}
