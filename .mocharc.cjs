// `npm test` runs mocha twice. Files whose assertions depend on throughput (shaped paths read within
// 5–10%, the whole testnet) run one at a time with the machine to themselves; everything else mostly
// waits on epochs and timers, so it runs three files at a time first. That includes the probe attacks and
// the record flood: they read a 1 MB/s relay and bound one process's own CPU, which a shared machine
// still gives. Plain `npx mocha` runs all, serially.
// the whole testnet last: in one run the relay/proxy file, started as its processes were torn down,
// found its first relay unresponsive
const timed = [
  'test/node/relay-proxy.test.ts',
  'test/node/relay/fair-slots.test.ts',
  'test/node/relay/reload-cap.test.ts',
  'test/witness/probe.test.ts',
  'test/witness/relays.test.ts',
  'test/witness/readings.test.ts',
  'test/witness/witness.test.ts',
  'test/e2e/testnet.test.ts',
]
// The shared group's longest files (1–2 min, mostly waiting on epochs) go first: one of them started
// last would run on alone at the end.
const longest = [
  'test/witness/probe-attacks.test.ts',
  'test/ledger/crash.test.ts',
  'test/ledger/partition.test.ts',
  'test/ledger/byzantine.test.ts',
  'test/ledger/replicas.test.ts',
  'test/ledger/superset.test.ts',
  'test/ledger/record-flood.test.ts',
]
const all = require('node:fs')
  .readdirSync('test', { recursive: true })
  .filter(f => f.endsWith('.test.ts'))
  .map(f => `test/${f}`)
  .sort()
// Mocha adds files named on the command line to the configured spec: name none here when some are given,
// so `npx mocha test/x.test.ts` runs that file alone.
const named = process.argv.slice(2).some(a => a.endsWith('.ts'))
const base = {
  spec: named ? [] : [...longest, ...all.filter(f => !longest.includes(f))],
  'node-option': ['import=tsx', 'import=./node/host/runtime.ts'],
  // suites that need root or system packages skip where those are missing; the run ends with their list
  require: ['./test/helpers/requires.ts'],
  timeout: 60000,
  reporter: 'spec',
  exit: true,
}
const group = process.env.WEIR_TESTS
if (group !== undefined && group !== 'timed' && group !== 'shared')
  throw new Error(`WEIR_TESTS: expected "timed" or "shared", got "${group}"`)
module.exports =
  group === 'timed'
    ? { ...base, spec: timed }
    : group === 'shared'
      ? { ...base, ignore: timed, parallel: true, jobs: 3 }
      : base
