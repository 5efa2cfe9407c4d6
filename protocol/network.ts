import * as v from 'valibot'
import { compareBytes, parseHex } from './bytes.ts'
import { NetworkDefinitionError } from './errors.ts'
import { peerIdFromString } from './peer.ts'
import { expected, parseOrThrow, strictMap, wholeNumber } from './schema.ts'

export type Address = `0x${string}`

/** The default quorum (docs/PROTOCOL.md §1): the smallest number above two thirds of the committee. */
export const defaultQuorum = (committeeSize: number): number => Math.floor((2 * committeeSize) / 3) + 1

const isPeerId = (text: string): boolean => {
  try {
    peerIdFromString(text)
    return true
  } catch {
    return false
  }
}

const PEER_ID = 'an Ed25519 PeerId string (12D3KooW…)'
const peerId = v.pipe(v.string(expected(PEER_ID)), v.check(isPeerId, expected(PEER_ID)))

const ADDRESS = 'a 0x-prefixed 20-byte hex address'
const address = v.pipe(
  v.string(expected(ADDRESS)),
  v.regex(/^0x[0-9a-fA-F]{40}$/, expected(ADDRESS)),
  v.transform(text => text.toLowerCase() as Address),
)

/** An array of at most `max` entries. */
const list = <S extends v.GenericSchema>(item: S, max: number) =>
  v.pipe(v.array(item, expected('an array')), v.maxLength(max, `expected at most ${max} entries`))

const SEED = '32 bytes of hex (64 hex digits, optionally 0x-prefixed)'
const EMISSION = 'a decimal string of token base units, e.g. "1000000000000000000000"'
const MULTIADDR = 'a multiaddr string such as /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…'

/** The network definition's JSON form: each field's type, bounds and default. */
const networkJson = strictMap({
  version: v.literal(1, expected('1')),
  /** short ASCII name that domain-separates every protocol id, topic and signature */
  id: v.pipe(
    v.string(expected('a string')),
    v.regex(
      /^[a-z0-9][a-z0-9-]{0,31}$/,
      expected('1-32 characters of a-z, 0-9 and -, starting with a letter or digit'),
    ),
  ),
  /** unix milliseconds at which epoch 0 starts */
  genesis: wholeNumber(0),
  epochSeconds: wholeNumber(1, 7 * 24 * 3600),
  graceSeconds: wholeNumber(0),
  probe: strictMap({
    /** seconds of traffic in each direction */
    windowSeconds: wholeNumber(2, 600),
    /** leading seconds of each window left out of the median (TCP ramp-up) */
    warmupSeconds: wholeNumber(0, 600),
    /** a probe that has not finished after this long is attested as `timeout` */
    timeoutSeconds: wholeNumber(1, 3600),
  }),
  /** k: witnesses assigned to each relay per epoch */
  witnessesPerRelay: wholeNumber(1),
  /** m: attestations a relay needs for a non-zero score */
  minAttestations: wholeNumber(1),
  /** the permissioned witnesses, as PeerId strings in canonical (byte) order */
  witnesses: list(peerId, 10_000),
  committee: list(
    strictMap({
      peerId,
      /** the EVM address of the member's secp256k1 signer key */
      signer: address,
    }),
    100,
  ),
  /** by default defaultQuorum(committee size) */
  quorum: v.optional(wholeNumber(1)),
  genesisSeed: v.pipe(
    v.string(expected(SEED)),
    v.check(text => parseHex(text, 32) !== undefined, expected(SEED)),
    v.transform(text => parseHex(text, 32) as Uint8Array),
  ),
  /** d: epochs between a relay's registration and its first eligible epoch */
  eligibilityDelay: v.optional(wholeNumber(0, 1000), 3),
  relays: v.nullish(list(strictMap({ peerId, payout: address }), 100_000), []),
  /** token base units minted per epoch */
  emissionPerEpoch: v.pipe(
    v.string(expected(EMISSION)),
    v.regex(/^(0|[1-9][0-9]{0,76})$/, expected(EMISSION)),
    v.transform((text: string) => BigInt(text)),
    v.maxValue((1n << 128n) - 1n, 'expected less than 2^128'),
  ),
  chain: strictMap({ chainId: wholeNumber(1), rewards: v.optional(address) }),
  bootstrap: v.nullish(
    list(
      v.pipe(
        v.string(expected(MULTIADDR)),
        v.startsWith('/', expected(MULTIADDR)),
        v.maxLength(512, expected(MULTIADDR)),
      ),
      100,
    ),
    [],
  ),
  /**
   * A network on one machine or one LAN (testnets): its nodes announce loopback and private addresses.
   * Absent on every other network, whose nodes announce only addresses dialable from the Internet.
   */
  local: v.optional(v.literal(true, expected('true, or the key left out'))),
})

export type NetworkDefinition = Omit<v.InferOutput<typeof networkJson>, 'quorum'> & { quorum: number }
export type ProbeParameters = NetworkDefinition['probe']
export type CommitteeMember = NetworkDefinition['committee'][number]
export type GenesisRelay = NetworkDefinition['relays'][number]

const fail = (field: string, expected: string): never => {
  throw new NetworkDefinitionError(field, expected)
}

/** The index of the first entry equal to an earlier one, or -1. */
function firstDuplicate(values: readonly string[]): number {
  const seen = new Set<string>()
  return values.findIndex(value => seen.size === seen.add(value).size)
}

function unique(values: readonly string[], field: string): void {
  const i = firstDuplicate(values)
  if (i >= 0) fail(`${field}[${i}]`, `duplicate entry ${values[i]}`)
}

const byPeerIdBytes = (a: string, b: string): number => compareBytes(peerIdFromString(a), peerIdFromString(b))

/** Validates a parsed JSON value as a network definition; throws NetworkDefinitionError naming the field. */
export function parseNetworkDefinition(json: unknown): NetworkDefinition {
  const o = parseOrThrow(networkJson, json, (path, message) => new NetworkDefinitionError(path, message))
  // The rules between fields, each named by the field that breaks it.
  if (o.graceSeconds > o.epochSeconds) {
    fail('graceSeconds', `expected at most epochSeconds (${o.epochSeconds}), got ${o.graceSeconds}`)
  }
  const { probe } = o
  if (probe.warmupSeconds >= probe.windowSeconds) {
    fail('probe.warmupSeconds', 'expected less than probe.windowSeconds, so some seconds are measured')
  }
  if (probe.timeoutSeconds < 2 * probe.windowSeconds) {
    fail('probe.timeoutSeconds', 'expected at least twice probe.windowSeconds (one window each way)')
  }
  if (o.witnesses.length === 0) fail('witnesses', 'expected at least one witness')
  unique(o.witnesses, 'witnesses')
  if (o.witnessesPerRelay > o.witnesses.length) {
    fail(
      'witnessesPerRelay',
      `expected at most the number of witnesses (${o.witnesses.length}), got ${o.witnessesPerRelay}`,
    )
  }
  if (o.minAttestations > o.witnessesPerRelay) {
    fail(
      'minAttestations',
      `expected at most witnessesPerRelay (${o.witnessesPerRelay}), got ${o.minAttestations}`,
    )
  }
  if (o.committee.length === 0) fail('committee', 'expected at least one member')
  unique(
    o.committee.map(m => m.peerId),
    'committee',
  )
  unique(
    o.committee.map(m => m.signer),
    'committee',
  )
  const quorum = o.quorum ?? defaultQuorum(o.committee.length)
  if (3 * quorum <= 2 * o.committee.length || quorum > o.committee.length) {
    fail(
      'quorum',
      `expected more than two thirds of the ${o.committee.length} members and at most all of them`,
    )
  }
  unique(
    o.relays.map(r => r.peerId),
    'relays',
  )
  return { ...o, quorum, witnesses: [...o.witnesses].sort(byPeerIdBytes) }
}

/** Parses network definition JSON text; a syntax error is reported like any other field error. */
export function loadNetworkDefinition(text: string): NetworkDefinition {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new NetworkDefinitionError('(file)', `expected JSON: ${(err as Error).message}`)
  }
  return parseNetworkDefinition(json)
}

/** The JSON form, the inverse of parseNetworkDefinition. */
export function networkDefinitionToJson(net: NetworkDefinition): Record<string, unknown> {
  return {
    ...net,
    genesisSeed: `0x${Buffer.from(net.genesisSeed).toString('hex')}`,
    emissionPerEpoch: net.emissionPerEpoch.toString(),
  }
}
