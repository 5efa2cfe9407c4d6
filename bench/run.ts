import '../node/runtime.ts'

// `npm run bench -- <name>` runs bench/<name>.ts, whose main() prints its figures (last line: one JSON object).
const name = process.argv[2]
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name>   (a file bench/<name>.ts)')
  process.exit(2)
}
const bench = (await import(`./${name}.ts`)) as { main(): Promise<void> }
await bench.main()
process.exit(0)
