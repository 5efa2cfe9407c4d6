import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { type Address, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { addressOfSecretKey } from '../../protocol/vote.ts'
import { initDataDir, writeNetworkFile } from './datadir.ts'
import { createSecp256k1Key } from './identity.ts'

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
  /** a network of Internet hosts (no `local` in its definition), not one machine or LAN */
  internet?: boolean
}

/** Creates a network (local unless `internet`) and the data dirs of its witnesses and committee; returns their paths. */
export function createLocalNetwork(o: NewNetworkOptions) {
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
    ...(o.internet ? {} : { local: true }),
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
