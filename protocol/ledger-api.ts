// The JSON that a ledger's read-only HTTP API serves (docs/ledger.md), one schema per answer. The ledger
// builds each answer as the schema's input type; clients parse what they fetch with the same schema and
// get its output: amounts as bigint, hashes and signatures as 0x hex, the certificate's bytes.
import * as v from 'valibot'
import { parseHex } from './bytes.ts'
import type { Address } from './network.ts'
import { expected, parseOrThrow } from './schema.ts'

type Hex = `0x${string}`

const hexOf = (bytes?: number) => {
  const pattern =
    bytes === undefined ? /^0x(?:[0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${2 * bytes}}$`)
  const what =
    bytes === undefined ? 'an even number of 0x-prefixed hex digits' : `${bytes} bytes of 0x-prefixed hex`
  return v.custom<Hex>(value => typeof value === 'string' && pattern.test(value), expected(what))
}
const hash = hexOf(32)
/** Hex on the wire, bytes once parsed. */
const bytesOf = (length?: number) =>
  v.pipe(
    hexOf(length),
    v.transform(text => parseHex(text) as Uint8Array),
  )
const address = v.custom<Address>(
  value => typeof value === 'string' && /^0x[0-9a-fA-F]{40}$/.test(value),
  expected('a 0x-prefixed 20-byte hex address'),
)
/** A token amount: a decimal string on the wire, exact as a bigint. */
const amount = v.pipe(
  v.string(),
  v.regex(/^(?:0|[1-9][0-9]*)$/),
  v.transform(text => BigInt(text)),
)
const epoch = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
const count = epoch

/** `{ "error": "..." }`, with a 4xx or 5xx status. */
export const errorAnswer = v.object({ error: v.string() })

/** `GET /healthz` */
export const healthAnswer = v.object({
  ok: v.literal(true),
  network: v.string(),
  currentEpoch: epoch,
  latestCertified: v.nullable(epoch),
})

const epochSummary = v.object({
  epoch,
  status: v.picklist(['open', 'closing', 'certified']),
  attestations: count,
  relayRecords: count,
  contentRoot: v.nullable(hash),
  rewardsRoot: v.nullable(hash),
})

/** `GET /epochs?from=E&limit=N` */
export const epochsAnswer = v.object({ currentEpoch: epoch, epochs: v.array(epochSummary) })

/** `GET /epochs/:e` */
export const epochAnswer = v.object({
  ...epochSummary.entries,
  start: v.number(),
  end: v.number(),
  graceEnd: v.number(),
  votes: v.array(
    v.object({
      signer: v.string(),
      contentRoot: hash,
      rewardsRoot: hash,
      cumulativeTotal: amount,
      matchesCertificate: v.nullable(v.boolean()),
    }),
  ),
  equivocations: v.array(v.object({ relay: v.string(), witness: v.string(), items: v.array(hexOf()) })),
})

/** One relay's line in an epoch's tally (and in its history). */
export const relayLine = v.object({
  epoch,
  peerId: v.string(),
  payout: address,
  capacities: v.array(v.number()),
  score: v.number(),
  reward: amount,
})
export type RelayLine = v.InferInput<typeof relayLine>

/** An epoch's tally as the ledger stores it: amounts as decimal strings, ids in their usual text forms. */
export const storedTally = v.object({
  epoch,
  contentRoot: hash,
  rewardsRoot: hash,
  cumulativeTotal: amount,
  emitted: amount,
  equivocations: count,
  items: v.object({ attestations: count, relayRecords: count }),
  relays: v.array(relayLine),
  leaves: v.array(v.object({ account: address, amount })),
})
export type StoredTallyJson = v.InferInput<typeof storedTally>

/**
 * `GET /epochs/:e/tally`: `certified` once this ledger has finished the epoch (it holds the certificate and
 * this tally has its roots), from when `/rewards` answers for it.
 */
export const tallyAnswer = v.object({ certified: v.boolean(), ...storedTally.entries })

/** `GET /epochs/:e/certificate` and `GET /epochs/latest/certificate`; `encoded` is the certificate's CBOR. */
export const certificateAnswer = v.object({
  net: v.string(),
  epoch,
  contentRoot: hash,
  rewardsRoot: hash,
  cumulativeTotal: amount,
  signers: v.array(v.string()),
  signatures: v.array(hexOf(65)),
  encoded: bytesOf(),
})

/** `GET /rewards/:account`: the cumulative amount and its proof against the latest settled epoch. */
export const rewardsAnswer = v.object({
  account: address,
  epoch,
  amount,
  rewardsRoot: hash,
  proof: v.array(hash),
})

const registeredIn = v.union([epoch, v.literal('genesis')])

/** `GET /relays` */
export const relaysAnswer = v.object({
  relays: v.array(
    v.object({
      peerId: v.string(),
      payout: address,
      addrs: v.array(v.string()),
      registeredIn,
      lastScore: v.nullable(v.object({ epoch, score: v.number(), reward: amount })),
    }),
  ),
})

/** `GET /relays/:peerId` */
export const relayAnswer = v.object({
  peerId: v.string(),
  payout: v.nullable(address),
  addrs: v.array(v.string()),
  registeredIn: v.nullable(registeredIn),
  history: v.array(relayLine),
})

/**
 * `GET /relays/:peerId/capacity`: the relay's attestations in the latest settled epoch, each with its
 * proof against the certified content root, and the certificates that make them checkable
 * (protocol/certified-capacity.ts): the epoch's and, from epoch 2 on, the one of the epoch two before,
 * which seeds the epoch's witness assignment. Certificates as their CBOR.
 */
export const capacityAnswer = v.object({
  peerId: v.string(),
  epoch,
  certificate: bytesOf(),
  seedCertificate: v.nullable(bytesOf()),
  items: count,
  attestations: v.array(v.object({ bytes: bytesOf(), index: count, proof: v.array(bytesOf(32)) })),
})

/** What a ledger answers on a route, as its handler builds it. */
export type Answer<S extends v.GenericSchema> = v.InferInput<S>

/** Parses a ledger's answer, or throws naming `source` and the first field that does not fit. */
export function parseAnswer<S extends v.GenericSchema>(
  schema: S,
  json: unknown,
  source: string,
): v.InferOutput<S> {
  return parseOrThrow(
    schema,
    json,
    (path, message) => new Error(`${source}: unexpected answer: ${path}: ${message}`),
  )
}
