import { compareBytes, parseHex } from './bytes.ts'
import { NetworkDefinitionError } from './errors.ts'
import { peerIdFromString } from './peer.ts'

export type Address = `0x${string}`

export interface ProbeParameters {
  /** seconds of traffic in each direction */
  windowSeconds: number
  /** leading seconds of each window left out of the median (TCP ramp-up) */
  warmupSeconds: number
  /** a probe that has not finished after this long is attested as `timeout` */
  timeoutSeconds: number
}

export interface CommitteeMember {
  peerId: string
  /** the EVM address of the member's secp256k1 signer key */
  signer: Address
}

export interface GenesisRelay {
  peerId: string
  payout: Address
}

export interface NetworkDefinition {
  version: 1
  /** short ASCII name that domain-separates every protocol id, topic and signature */
  id: string
  /** unix milliseconds at which epoch 0 starts */
  genesis: number
  epochSeconds: number
  graceSeconds: number
  probe: ProbeParameters
  /** k: witnesses assigned to each relay per epoch */
  witnessesPerRelay: number
  /** m: attestations a relay needs for a non-zero score */
  minAttestations: number
  /** the permissioned witnesses, as PeerId strings in canonical (byte) order */
  witnesses: string[]
  committee: CommitteeMember[]
  quorum: number
  genesisSeed: Uint8Array
  /** d: epochs between a relay's registration and its first eligible epoch */
  eligibilityDelay: number
  relays: GenesisRelay[]
  /** token base units minted per epoch */
  emissionPerEpoch: bigint
  chain: { chainId: number; rewards?: Address }
  bootstrap: string[]
}

/** The default quorum (docs/PROTOCOL.md §1): the smallest number above two thirds of the committee. */
export const defaultQuorum = (committeeSize: number): number => Math.floor((2 * committeeSize) / 3) + 1

const fail = (field: string, expected: string): never => {
  throw new NetworkDefinitionError(field, expected)
}

function integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(field, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return value as number
}

function address(value: unknown, field: string): Address {
  if (typeof value !== 'string' || !parseHex(value, 20) || !value.startsWith('0x')) {
    fail(field, `expected a 0x-prefixed 20-byte hex address, got ${JSON.stringify(value)}`)
  }
  return (value as string).toLowerCase() as Address
}

function peerId(value: unknown, field: string): string {
  if (typeof value !== 'string') return fail(field, 'expected an Ed25519 PeerId string (12D3KooW…)')
  try {
    peerIdFromString(value)
  } catch {
    fail(field, `expected an Ed25519 PeerId string (12D3KooW…), got ${JSON.stringify(value.slice(0, 80))}`)
  }
  return value
}

function array(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) fail(field, 'expected an array')
  if ((value as unknown[]).length > max) fail(field, `expected at most ${max} entries`)
  return value as unknown[]
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'expected an object')
  return value as Record<string, unknown>
}

function onlyKeys(obj: Record<string, unknown>, field: string, keys: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key))
      fail(field ? `${field}.${key}` : key, `unknown field (expected one of ${keys.join(', ')})`)
  }
}

function unique(values: string[], field: string): void {
  const seen = new Set<string>()
  values.forEach((v, i) => {
    if (seen.has(v)) fail(`${field}[${i}]`, `duplicate entry ${v}`)
    seen.add(v)
  })
}

const byPeerIdBytes = (a: string, b: string): number => compareBytes(peerIdFromString(a), peerIdFromString(b))

/** Validates a parsed JSON value as a network definition; throws NetworkDefinitionError naming the field. */
export function parseNetworkDefinition(json: unknown): NetworkDefinition {
  const o = object(json, '(root)')
  onlyKeys(o, '', [
    'version',
    'id',
    'genesis',
    'epochSeconds',
    'graceSeconds',
    'probe',
    'witnessesPerRelay',
    'minAttestations',
    'witnesses',
    'committee',
    'quorum',
    'genesisSeed',
    'eligibilityDelay',
    'relays',
    'emissionPerEpoch',
    'chain',
    'bootstrap',
  ])
  if (o.version !== 1) fail('version', `expected 1, got ${JSON.stringify(o.version)}`)
  if (typeof o.id !== 'string' || !/^[a-z0-9][a-z0-9-]{0,31}$/.test(o.id)) {
    fail('id', 'expected 1-32 characters of a-z, 0-9 and -, starting with a letter or digit')
  }
  const genesis = integer(o.genesis, 'genesis', 0)
  const epochSeconds = integer(o.epochSeconds, 'epochSeconds', 1, 7 * 24 * 3600)
  const graceSeconds = integer(o.graceSeconds, 'graceSeconds', 0, epochSeconds)

  const p = object(o.probe, 'probe')
  onlyKeys(p, 'probe', ['windowSeconds', 'warmupSeconds', 'timeoutSeconds'])
  const probe: ProbeParameters = {
    windowSeconds: integer(p.windowSeconds, 'probe.windowSeconds', 2, 600),
    warmupSeconds: integer(p.warmupSeconds, 'probe.warmupSeconds', 0, 600),
    timeoutSeconds: integer(p.timeoutSeconds, 'probe.timeoutSeconds', 1, 3600),
  }
  if (probe.warmupSeconds >= probe.windowSeconds) {
    fail('probe.warmupSeconds', 'expected less than probe.windowSeconds, so some seconds are measured')
  }
  if (probe.timeoutSeconds < 2 * probe.windowSeconds) {
    fail('probe.timeoutSeconds', 'expected at least twice probe.windowSeconds (one window each way)')
  }

  const witnesses = array(o.witnesses, 'witnesses', 10_000).map((w, i) => peerId(w, `witnesses[${i}]`))
  if (witnesses.length === 0) fail('witnesses', 'expected at least one witness')
  unique(witnesses, 'witnesses')
  witnesses.sort(byPeerIdBytes)
  const witnessesPerRelay = integer(o.witnessesPerRelay, 'witnessesPerRelay', 1, witnesses.length)
  const minAttestations = integer(o.minAttestations, 'minAttestations', 1, witnessesPerRelay)

  const committee = array(o.committee, 'committee', 100).map((m, i) => {
    const member = object(m, `committee[${i}]`)
    onlyKeys(member, `committee[${i}]`, ['peerId', 'signer'])
    return {
      peerId: peerId(member.peerId, `committee[${i}].peerId`),
      signer: address(member.signer, `committee[${i}].signer`),
    }
  })
  if (committee.length === 0) fail('committee', 'expected at least one member')
  unique(
    committee.map(m => m.peerId),
    'committee',
  )
  unique(
    committee.map(m => m.signer),
    'committee',
  )
  const quorum = o.quorum === undefined ? defaultQuorum(committee.length) : integer(o.quorum, 'quorum', 1)
  if (3 * quorum <= 2 * committee.length || quorum > committee.length) {
    fail('quorum', `expected more than two thirds of the ${committee.length} members and at most all of them`)
  }

  if (typeof o.genesisSeed !== 'string' || !parseHex(o.genesisSeed, 32)) {
    fail('genesisSeed', 'expected 32 bytes of hex (64 hex digits, optionally 0x-prefixed)')
  }
  const genesisSeed = parseHex(o.genesisSeed as string, 32) as Uint8Array
  const eligibilityDelay =
    o.eligibilityDelay === undefined ? 3 : integer(o.eligibilityDelay, 'eligibilityDelay', 0, 1000)

  const relays = array(o.relays ?? [], 'relays', 100_000).map((r, i) => {
    const relay = object(r, `relays[${i}]`)
    onlyKeys(relay, `relays[${i}]`, ['peerId', 'payout'])
    return {
      peerId: peerId(relay.peerId, `relays[${i}].peerId`),
      payout: address(relay.payout, `relays[${i}].payout`),
    }
  })
  unique(
    relays.map(r => r.peerId),
    'relays',
  )

  if (typeof o.emissionPerEpoch !== 'string' || !/^(0|[1-9][0-9]{0,76})$/.test(o.emissionPerEpoch)) {
    fail('emissionPerEpoch', 'expected a decimal string of token base units, e.g. "1000000000000000000000"')
  }
  const emissionPerEpoch = BigInt(o.emissionPerEpoch as string)
  if (emissionPerEpoch >= 1n << 128n) fail('emissionPerEpoch', 'expected less than 2^128')

  const c = object(o.chain, 'chain')
  onlyKeys(c, 'chain', ['chainId', 'rewards'])
  const chain: NetworkDefinition['chain'] = { chainId: integer(c.chainId, 'chain.chainId', 1) }
  if (c.rewards !== undefined) chain.rewards = address(c.rewards, 'chain.rewards')

  const bootstrap = array(o.bootstrap ?? [], 'bootstrap', 100).map((b, i) => {
    if (typeof b !== 'string' || !b.startsWith('/') || b.length > 512) {
      fail(`bootstrap[${i}]`, 'expected a multiaddr string such as /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…')
    }
    return b as string
  })

  return {
    version: 1,
    id: o.id as string,
    genesis,
    epochSeconds,
    graceSeconds,
    probe,
    witnessesPerRelay,
    minAttestations,
    witnesses,
    committee,
    quorum,
    genesisSeed,
    eligibilityDelay,
    relays,
    emissionPerEpoch,
    chain,
    bootstrap,
  }
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
