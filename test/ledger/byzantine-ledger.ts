// TEST ONLY: a committee member that signs a corrupted rewards root for every epoch (its stored tally
// stays honest), for test/ledger/byzantine.test.ts. Everything else is the real Ledger; the corruption
// goes in through the VoteSigner it takes.
// Usage: node --import tsx test/ledger/byzantine-ledger.ts --dir DIR --signer-key FILE [--bootstrap MA]...
import '../../node/host/runtime.ts'
import { parseArgs } from 'node:util'
import { Ledger } from '../../ledger/ledger.ts'
import { keyVoteSigner, type VoteSigner } from '../../ledger/vote-signer.ts'
import { loadDataDir } from '../../node/host/datadir.ts'
import { loadSecp256k1Key } from '../../node/host/identity.ts'

const { values: v } = parseArgs({
  options: {
    dir: { type: 'string' },
    'signer-key': { type: 'string' },
    api: { type: 'string' },
    bootstrap: { type: 'string', multiple: true },
  },
})
const honest = keyVoteSigner(loadSecp256k1Key(v['signer-key'] as string))
const corrupting: VoteSigner = {
  address: honest.address,
  sign: (domain, root) =>
    honest.sign(domain, { ...root, rewardsRoot: root.rewardsRoot.map((b, i) => (i === 31 ? b ^ 1 : b)) }),
}
const ledger = await Ledger.start({
  data: loadDataDir(v.dir as string),
  signer: corrupting,
  api: { host: '127.0.0.1', port: 0 },
  bootstrap: v.bootstrap ?? [],
})
console.log(JSON.stringify(ledger.info()))
await new Promise(resolve => {
  process.once('SIGINT', resolve)
  process.once('SIGTERM', resolve)
})
await ledger.stop()
