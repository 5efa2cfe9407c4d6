// `npm run bench -- <name> [args]`: runs bench/<name>.ts's main(args).
import '../node/runtime.ts'

const [name, ...args] = process.argv.slice(2)
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name> [args]   (a file bench/<name>.ts)')
  process.exit(2)
}
const bench = (await import(`./${name}.ts`)) as { main(args: string[]): Promise<void> | void }
await bench.main(args)
