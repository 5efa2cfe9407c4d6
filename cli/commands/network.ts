import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { initDataDir, writeNetworkFile } from '../../node/datadir.ts'
import { createSecp256k1Key } from '../../node/identity.ts'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { type Address, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'
import type { Command } from '../main.ts'
import { intFlag, parseFlags, requireFlag, UsageError } from '../args.ts'

const USAGE = `weir network new --out DIR [--id NAME] [--witnesses N] [--committee N] [--epoch-seconds S]
       [--grace-seconds S] [--probe-seconds S] [--witnesses-per-relay K] [--min-attestations M]
       [--eligibility-delay D] [--emission UNITS] [--chain-id ID] [--rewards 0xADDR] [--genesis UNIX_MS]

Writes DIR/network.json and a ready data dir for each witness (DIR/witness-N) and each committee
member (DIR/ledger-N, with its secp256k1 signer.key). For local testnets: the keys are created here.`

export interface NewNetworkOptions {
  out: string
  id?: string
  witnesses: number
  committee: number
  epochSeconds: number
  graceSeconds?: number
  probeSeconds?: number
  witnessesPerRelay?: number
  minAttestations?: number
  eligibilityDelay: number
  emission: bigint
  chainId: number
  rewards?: Address
  genesis: number
}

/** Creates a local network and the data dirs of its witnesses and committee; returns their paths. */
export function createLocalNetwork(o: NewNetworkOptions) {
  if (existsSync(o.out) && readdirSync(o.out).length > 0)
    throw new UsageError(`--out ${o.out} exists and is not empty`)
  const witnessDirs = Array.from({ length: o.witnesses }, (_, i) => join(o.out, `witness-${i + 1}`))
  const ledgerDirs = Array.from({ length: o.committee }, (_, i) => join(o.out, `ledger-${i + 1}`))
  const k = o.witnessesPerRelay ?? Math.min(3, o.witnesses)
  const probeSeconds = o.probeSeconds ?? Math.max(2, Math.min(10, Math.floor(o.epochSeconds / 6)))
  const witnessKeys = witnessDirs.map(() => generateEd25519())
  const memberKeys = ledgerDirs.map(() => ({
    identity: generateEd25519(),
    signer: secp256k1.utils.randomSecretKey(),
  }))
  const network = parseNetworkDefinition({
    version: 1,
    id: o.id ?? `local-${randomBytes(3).toString('hex')}`,
    genesis: o.genesis,
    epochSeconds: o.epochSeconds,
    graceSeconds: o.graceSeconds ?? Math.max(2, Math.floor(o.epochSeconds / 6)),
    probe: { windowSeconds: probeSeconds, warmupSeconds: 1, timeoutSeconds: 4 * probeSeconds },
    witnessesPerRelay: k,
    minAttestations: o.minAttestations ?? Math.min(2, k),
    witnesses: witnessKeys.map(key => peerIdToString(peerIdOfPublicKey(key.publicKey))),
    committee: memberKeys.map(m => ({
      peerId: peerIdToString(peerIdOfPublicKey(m.identity.publicKey)),
      signer: addressOfSecretKey(m.signer),
    })),
    genesisSeed: `0x${randomBytes(32).toString('hex')}`,
    eligibilityDelay: o.eligibilityDelay,
    relays: [],
    emissionPerEpoch: o.emission.toString(),
    chain: o.rewards ? { chainId: o.chainId, rewards: o.rewards } : { chainId: o.chainId },
    bootstrap: [],
  })
  mkdirSync(o.out, { recursive: true })
  writeNetworkFile(join(o.out, 'network.json'), network)
  witnessDirs.forEach((dir, i) => {
    initDataDir(dir, network, {}, witnessKeys[i])
  })
  ledgerDirs.forEach((dir, i) => {
    const m = memberKeys[i] as (typeof memberKeys)[number]
    initDataDir(dir, network, {}, m.identity)
    createSecp256k1Key(join(dir, 'signer.key'), m.signer)
  })
  return { network, path: join(o.out, 'network.json'), witnessDirs, ledgerDirs }
}

export const command: Command = {
  summary: 'create a local network definition with its witness and committee keys',
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
    })
    if (v.emission !== undefined && !/^\d{1,38}$/.test(v.emission)) {
      throw new UsageError(`--emission expects a whole number of token base units, got '${v.emission}'`)
    }
    if (v.rewards !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(v.rewards)) {
      throw new UsageError(`--rewards expects a 0x-prefixed 20-byte address, got '${v.rewards}'`)
    }
    const optional = (flag: string, value: string | undefined, min: number, max: number) =>
      value === undefined ? undefined : intFlag(value, flag, 0, min, max)
    const made = createLocalNetwork({
      out: requireFlag(v.out, 'out', 'the folder to write the network into'),
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
    })
    console.log(
      JSON.stringify({ network: made.path, witnesses: made.witnessDirs, ledgers: made.ledgerDirs }, null, 2),
    )
    return 0
  },
}
