import { existsSync, readdirSync } from 'node:fs'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import type { Address } from '../../protocol/network.ts'
import type { Command } from '../command.ts'
import { intFlag, parseFlags, requireFlag, UsageError } from '../args.ts'

const USAGE = `weir network new --out DIR [--id NAME] [--witnesses N] [--committee N] [--epoch-seconds S]
       [--grace-seconds S] [--probe-seconds S] [--witnesses-per-relay K] [--min-attestations M]
       [--eligibility-delay D] [--emission UNITS] [--chain-id ID] [--rewards 0xADDR] [--genesis UNIX_MS] [--internet]

Writes DIR/network.json and a ready data dir for each witness (DIR/witness-N) and each committee
member (DIR/ledger-N, with its secp256k1 signer.key); the keys are created here. The network is local
(its nodes announce loopback and private addresses, for one machine or a LAN) unless --internet is
given: then nodes announce only addresses dialable from the Internet (docs/reachability.md).`

export const command: Command = {
  summary: 'create a network definition with its witness and committee keys',
  usage: USAGE,
  async run(argv) {
    const [sub, ...rest] = argv
    if (sub !== 'new') throw new UsageError(`expected the subcommand 'new', got '${sub ?? ''}'`)
    const { values: v } = parseFlags(rest, {
      out: { type: 'string' },
      id: { type: 'string' },
      witnesses: { type: 'string' },
      committee: { type: 'string' },
      'epoch-seconds': { type: 'string' },
      'grace-seconds': { type: 'string' },
      'probe-seconds': { type: 'string' },
      'witnesses-per-relay': { type: 'string' },
      'min-attestations': { type: 'string' },
      'eligibility-delay': { type: 'string' },
      emission: { type: 'string' },
      'chain-id': { type: 'string' },
      rewards: { type: 'string' },
      genesis: { type: 'string' },
      internet: { type: 'boolean', default: false },
    })
    if (v.emission !== undefined && !/^\d{1,38}$/.test(v.emission)) {
      throw new UsageError(`--emission expects a whole number of token base units, got '${v.emission}'`)
    }
    if (v.rewards !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(v.rewards)) {
      throw new UsageError(`--rewards expects a 0x-prefixed 20-byte address, got '${v.rewards}'`)
    }
    const optional = (flag: string, value: string | undefined, min: number, max: number) =>
      value === undefined ? undefined : intFlag(value, flag, 0, min, max)
    const out = requireFlag(v.out, 'out', 'the folder to write the network into')
    if (existsSync(out) && readdirSync(out).length > 0)
      throw new UsageError(`--out ${out} exists and is not empty`)
    const made = createLocalNetwork({
      out,
      ...(v.id === undefined ? {} : { id: v.id }),
      witnesses: intFlag(v.witnesses, 'witnesses', 3, 1, 1000),
      committee: intFlag(v.committee, 'committee', 4, 1, 100),
      epochSeconds: intFlag(v['epoch-seconds'], 'epoch-seconds', 60, 5, 7 * 24 * 3600),
      graceSeconds: optional('grace-seconds', v['grace-seconds'], 0, 3600),
      probeSeconds: optional('probe-seconds', v['probe-seconds'], 2, 600),
      witnessesPerRelay: optional('witnesses-per-relay', v['witnesses-per-relay'], 1, 1000),
      minAttestations: optional('min-attestations', v['min-attestations'], 1, 1000),
      eligibilityDelay: intFlag(v['eligibility-delay'], 'eligibility-delay', 0, 0, 1000),
      emission: BigInt(v.emission ?? '1000000000000000000000'),
      chainId: intFlag(v['chain-id'], 'chain-id', 31337, 1),
      ...(v.rewards === undefined ? {} : { rewards: v.rewards.toLowerCase() as Address }),
      genesis:
        v.genesis === undefined ? Date.now() : intFlag(v.genesis, 'genesis', 0, 0, Number.MAX_SAFE_INTEGER),
      internet: v.internet === true,
    })
    console.log(
      JSON.stringify({ network: made.path, witnesses: made.witnessDirs, ledgers: made.ledgerDirs }, null, 2),
    )
    return 0
  },
}
