// `npm run bench -- <name>` runs bench/<name>.ts.
import '../node/runtime.ts'

const name = process.argv[2]
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name>   (runs bench/<name>.ts)')
  process.exit(2)
}
const bench = (await import(`./${name}.ts`)) as { main(argv: string[]): Promise<void> }
await bench.main(process.argv.slice(3))
