// The `weir` process. bin/weir.js runs its compiled copy (dist/cli/weir.js); tests and development run
// this source through tsx.
import { main } from './main.ts'

process.exitCode = await main(process.argv.slice(2))
