import '../node/runtime.ts'

// `npm run bench -- <name>` runs bench/<name>.ts's main().
const name = process.argv[2]
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name>   (a file bench/<name>.ts)')
  process.exit(2)
}
const { main } = (await import(`./${name}.ts`)) as { main: (argv: string[]) => Promise<void> }
await main(process.argv.slice(3))
