// `npm run bench -- <name> [args]`: runs bench/<name>.ts. Each benchmark prints its figures as ratios
// against a baseline measured in the same run, and ends with one JSON line.
import '../node/host/runtime.ts'
import { readdirSync } from 'node:fs'

const available = readdirSync(new URL('.', import.meta.url))
  .filter(f => f.endsWith('.ts') && f !== 'run.ts')
  .map(f => f.slice(0, -3))
const [name, ...args] = process.argv.slice(2)
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}>`)
  process.exit(2)
}
const bench = (await import(`./${name}.ts`)) as { main(args: string[]): Promise<void> }
await bench.main(args)
