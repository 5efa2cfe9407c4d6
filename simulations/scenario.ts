import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'

/** A scenario mistake: the message starts with the key path, so `network.relays: expected …`. */
export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

export interface Scenario {
  name: string
  description: string
  seed: number
  runs: number
  epochs: number
  /** real Ed25519 signatures and verification, or skipped (zero signatures, trusted) for scale */
  crypto: 'real' | 'skip'
  network: {
    relays: number
    witnesses: number
    committee: number
    witnessesPerRelay: number
    minAttestations: number
    epochSeconds: number
    graceSeconds: number
    probeWindowSeconds: number
    probeWarmupSeconds: number
    eligibilityDelay: number
    emissionPerEpoch: string
  }
  capacity: {
    distribution: 'lognormal' | 'uniform' | 'empirical'
    median: number
    sigma: number
    min: number
    max: number
    file: string
    column: string
    downRatio: number
  }
  witnessCapacity: number
  probeStreams: number
  latency: { medianMs: number; sigma: number }
  traffic: {
    load: number
    sessionSeconds: number
    sessionMedianBps: number
    sessionSigma: number
    initialWindowBytes: number
  }
  gossip: { paths: number; hops: number; loss: number }
  churn: { leave: number; crash: number; downtimeSeconds: number; join: number }
  adversaries: {
    inflating?: { fraction: number; detection: number }
    lazy?: { fraction: number; claimBps: number }
    colluding?: { witnesses: number; targets: number; inflation: number }
    sybil?: { machines: number; identities: number; mode: 'split' | 'shared' }
    byzantine?: { members: number; strategy: 'equivocate' | 'withhold' }
    droppers?: { fraction: number }
  }
  output: { nodes: boolean }
  sweep: Record<string, (number | string)[]>
}

export type AdversaryName = keyof Scenario['adversaries']

type Spec =
  | { type: 'number'; min: number; max: number; integer?: boolean; default: number; doc: string }
  | { type: 'string'; default: string; doc: string; pattern?: RegExp }
  | { type: 'enum'; values: string[]; default: string; doc: string }
  | { type: 'boolean'; default: boolean; doc: string }
  | { type: 'object'; fields: Record<string, Spec>; optional?: boolean; doc: string }
  | { type: 'sweep'; doc: string }

const num = (min: number, max: number, def: number, doc: string, integer = false): Spec => ({
  type: 'number',
  min,
  max,
  default: def,
  doc,
  integer,
})
const int = (min: number, max: number, def: number, doc: string): Spec => num(min, max, def, doc, true)
const fraction = (def: number, doc: string) => num(0, 1, def, doc)

/** The scenario schema: every key, its type, bounds, default and meaning (docs/simulator.md lists it). */
export const SCHEMA: Spec = {
  type: 'object',
  doc: 'a simulation scenario',
  fields: {
    name: { type: 'string', default: 'scenario', doc: 'short name used in reports' },
    description: { type: 'string', default: '', doc: 'one sentence on what the scenario shows' },
    seed: int(0, 2 ** 31, 1, 'the first seed; run i uses seed + i'),
    runs: int(1, 1000, 1, 'runs (seeds) per sweep point'),
    epochs: int(1, 10_000, 12, 'epochs to simulate'),
    crypto: { type: 'enum', values: ['real', 'skip'], default: 'skip', doc: 'real signatures, or skipped' },
    network: {
      type: 'object',
      doc: 'the simulated network definition',
      fields: {
        relays: int(1, 1_000_000, 1000, 'relays at genesis'),
        witnesses: int(1, 10_000, 30, 'witnesses'),
        committee: int(1, 100, 7, 'ledger members'),
        witnessesPerRelay: int(1, 100, 3, 'k: witnesses assigned to each relay per epoch'),
        minAttestations: int(1, 100, 2, 'm: attestations needed for a non-zero score'),
        epochSeconds: int(60, 7 * 24 * 3600, 3600, 'epoch length in simulated seconds'),
        graceSeconds: int(0, 7 * 24 * 3600, 300, 'grace after an epoch before it closes'),
        probeWindowSeconds: int(2, 600, 10, 'seconds of probe traffic in each direction'),
        probeWarmupSeconds: int(0, 600, 2, 'leading seconds of each window left out of the median'),
        eligibilityDelay: int(2, 1000, 3, 'd: epochs between registration and eligibility (≥ 2 here)'),
        emissionPerEpoch: {
          type: 'string',
          default: '1000000000000000000000',
          pattern: /^[1-9][0-9]{0,37}$/,
          doc: 'token base units minted per epoch (decimal string)',
        },
      },
    },
    capacity: {
      type: 'object',
      doc: "relays' upload capacity (bytes/s); download = upload × downRatio",
      fields: {
        distribution: {
          type: 'enum',
          values: ['lognormal', 'uniform', 'empirical'],
          default: 'lognormal',
          doc: 'how upload capacities are drawn',
        },
        median: num(1e3, 1e11, 5e6, 'lognormal: median bytes/s'),
        sigma: num(0, 5, 1, 'lognormal: sigma of the underlying normal'),
        min: num(1e3, 1e11, 1e6, 'uniform: lowest bytes/s'),
        max: num(1e3, 1e11, 50e6, 'uniform: highest bytes/s'),
        file: { type: 'string', default: '', doc: 'empirical: CSV file (relative to the scenario)' },
        column: { type: 'string', default: 'up', doc: 'empirical: the CSV column of bytes/s' },
        downRatio: num(0.01, 100, 4, 'download capacity ÷ upload capacity'),
      },
    },
    witnessCapacity: num(1e3, 1e12, 1.25e9, "each witness machine's capacity (bytes/s)"),
    probeStreams: int(1, 256, 4, 'parallel TCP streams a probe opens (each takes a fair share)'),
    latency: {
      type: 'object',
      doc: "each node's one-way access latency",
      fields: {
        medianMs: num(0.1, 5000, 20, 'median one-way latency (ms)'),
        sigma: num(0, 3, 0.5, 'lognormal sigma'),
      },
    },
    traffic: {
      type: 'object',
      doc: 'background user traffic that contends with probes',
      fields: {
        load: fraction(0.2, 'offered user demand ÷ total relay capacity'),
        sessionSeconds: num(0.1, 1e6, 60, 'mean user session length (s)'),
        sessionMedianBps: num(1, 1e11, 1e6, "median of a session's demand (bytes/s)"),
        sessionSigma: num(0, 5, 1, "lognormal sigma of a session's demand"),
        initialWindowBytes: num(1000, 1e9, 14600, "probe flows' initial congestion window"),
      },
    },
    gossip: {
      type: 'object',
      doc: 'attestation delivery from witnesses to ledger members',
      fields: {
        paths: int(1, 64, 3, 'independent gossip paths to each ledger member'),
        hops: int(1, 16, 2, 'relay forwarders on each path'),
        loss: fraction(0.01, 'chance that one hop loses a message'),
      },
    },
    churn: {
      type: 'object',
      doc: 'relays joining, leaving and crashing',
      fields: {
        leave: fraction(0, "a relay's chance to leave for good in an epoch"),
        crash: fraction(0, "a relay's chance to crash in an epoch"),
        downtimeSeconds: num(1, 1e7, 600, 'mean time a crashed relay stays down (s)'),
        join: num(0, 1e6, 0, 'mean new relays per epoch'),
      },
    },
    adversaries: {
      type: 'object',
      doc: 'each present section enables one adversary',
      fields: {
        inflating: {
          type: 'object',
          optional: true,
          doc: 'relays that try to spot probes and give them all their capacity',
          fields: {
            fraction: fraction(0.05, 'share of relays that inflate'),
            detection: fraction(0.5, 'chance that such a relay recognises a probe'),
          },
        },
        lazy: {
          type: 'object',
          optional: true,
          doc: 'witnesses that attest a made-up value without probing',
          fields: {
            fraction: fraction(0.2, 'share of witnesses that are lazy'),
            claimBps: num(0, 1e12, 0, "the value they attest; 0 = the relay's last score"),
          },
        },
        colluding: {
          type: 'object',
          optional: true,
          doc: 'a witness group that inflates chosen relays',
          fields: {
            witnesses: fraction(0.2, 'share of witnesses in the group'),
            targets: int(1, 1_000_000, 10, 'relays the group inflates'),
            inflation: num(1, 1e6, 10, 'factor the group multiplies their measurements by'),
          },
        },
        sybil: {
          type: 'object',
          optional: true,
          doc: "one machine's capacity split over many identities",
          fields: {
            machines: int(1, 100_000, 10, 'Sybil machines (each replaces one relay)'),
            identities: int(2, 1000, 5, 'identities per machine'),
            mode: {
              type: 'enum',
              values: ['split', 'shared'],
              default: 'split',
              doc: 'split: each identity capped at capacity ÷ n; shared: all share the whole machine',
            },
          },
        },
        byzantine: {
          type: 'object',
          optional: true,
          doc: 'ledger members that vote for a different root',
          fields: {
            members: int(1, 100, 2, 'byzantine committee members'),
            strategy: {
              type: 'enum',
              values: ['equivocate', 'withhold'],
              default: 'equivocate',
              doc: 'equivocate: sign both roots; withhold: sign only their own',
            },
          },
        },
        droppers: {
          type: 'object',
          optional: true,
          doc: 'relays that drop the attestations they forward (except about themselves)',
          fields: { fraction: fraction(0.2, 'share of relays that drop') },
        },
      },
    },
    output: {
      type: 'object',
      doc: 'what a run writes',
      fields: { nodes: { type: 'boolean', default: true, doc: 'write nodes.csv (epoch × node)' } },
    },
    sweep: { type: 'sweep', doc: 'key path → list of values; runs the grid × runs seeds' },
  },
}

function check(spec: Spec, value: unknown, path: string): unknown {
  const where = path || '(root)'
  const got = JSON.stringify(value)?.slice(0, 80)
  switch (spec.type) {
    case 'number': {
      const v = value ?? spec.default
      if (typeof v !== 'number' || !Number.isFinite(v) || v < spec.min || v > spec.max) {
        throw new ScenarioError(`${where}: expected a number from ${spec.min} to ${spec.max}, got ${got}`)
      }
      if (spec.integer && !Number.isInteger(v))
        throw new ScenarioError(`${where}: expected a whole number, got ${got}`)
      return v
    }
    case 'string': {
      const v = value ?? spec.default
      if (typeof v !== 'string' || (spec.pattern && !spec.pattern.test(v))) {
        throw new ScenarioError(`${where}: expected ${spec.doc}, got ${got}`)
      }
      return v
    }
    case 'enum': {
      const v = value ?? spec.default
      if (typeof v !== 'string' || !spec.values.includes(v)) {
        throw new ScenarioError(`${where}: expected one of ${spec.values.join(', ')}, got ${got}`)
      }
      return v
    }
    case 'boolean': {
      const v = value ?? spec.default
      if (typeof v !== 'boolean') throw new ScenarioError(`${where}: expected true or false, got ${got}`)
      return v
    }
    case 'sweep': {
      const v = value ?? {}
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        throw new ScenarioError(`${where}: expected a map of key path → list of values`)
      for (const [key, values] of Object.entries(v)) {
        if (!Array.isArray(values) || values.length === 0)
          throw new ScenarioError(`${where}.${key}: expected a non-empty list of values`)
      }
      return v
    }
    case 'object': {
      if (value === undefined || value === null) {
        if (spec.optional) return undefined
        value = {}
      }
      if (typeof value !== 'object' || Array.isArray(value))
        throw new ScenarioError(`${where}: expected a map of keys, got ${got}`)
      const input = value as Record<string, unknown>
      for (const key of Object.keys(input)) {
        if (!(key in spec.fields)) {
          const keys = Object.keys(spec.fields).join(', ')
          throw new ScenarioError(`${path ? `${path}.` : ''}${key}: unknown key (expected one of ${keys})`)
        }
      }
      const out: Record<string, unknown> = {}
      for (const [key, field] of Object.entries(spec.fields)) {
        const v = check(field, input[key], path ? `${path}.${key}` : key)
        if (v !== undefined) out[key] = v
      }
      return out
    }
  }
}

function crossCheck(s: Scenario): void {
  const n = s.network
  if (n.witnessesPerRelay > n.witnesses)
    throw new ScenarioError('network.witnessesPerRelay: expected at most network.witnesses')
  if (n.minAttestations > n.witnessesPerRelay)
    throw new ScenarioError('network.minAttestations: expected at most network.witnessesPerRelay')
  if (n.probeWarmupSeconds >= n.probeWindowSeconds)
    throw new ScenarioError('network.probeWarmupSeconds: expected less than network.probeWindowSeconds')
  if (4 * n.probeWindowSeconds + 2 >= n.epochSeconds)
    throw new ScenarioError('network.probeWindowSeconds: expected probes much shorter than an epoch')
  if (n.graceSeconds >= n.epochSeconds)
    throw new ScenarioError('network.graceSeconds: expected less than network.epochSeconds')
  if (s.capacity.distribution === 'empirical' && !s.capacity.file)
    throw new ScenarioError('capacity.file: expected a CSV file for the empirical distribution')
  if (s.capacity.distribution === 'uniform' && s.capacity.min > s.capacity.max)
    throw new ScenarioError('capacity.min: expected at most capacity.max')
  const byz = s.adversaries.byzantine
  if (byz && byz.members > n.committee)
    throw new ScenarioError('adversaries.byzantine.members: expected at most network.committee')
  const sybil = s.adversaries.sybil
  if (sybil && sybil.machines > n.relays)
    throw new ScenarioError('adversaries.sybil.machines: expected at most network.relays')
}

/** Validates a parsed scenario, fills in defaults, and returns the resolved scenario. */
export function resolveScenario(input: unknown): Scenario {
  const s = check(SCHEMA, input, '') as Scenario
  crossCheck(s)
  for (const key of Object.keys(s.sweep)) {
    for (const value of s.sweep[key] as unknown[]) resolveScenario(withValue(s, key, value, false))
  }
  return s
}

/** A copy of the scenario with the value at a dotted key path replaced. */
function withValue(s: Scenario, key: string, value: unknown, keepSweep = true): Scenario {
  const copy = structuredClone(s) as unknown as Record<string, unknown>
  if (!keepSweep) copy.sweep = {}
  const parts = key.split('.')
  let node = copy
  for (const part of parts.slice(0, -1)) {
    const next = node[part]
    if (typeof next !== 'object' || next === null) {
      if (parts[0] === 'adversaries' && node === copy.adversaries) node[part] = {}
      else throw new ScenarioError(`sweep.${key}: no such key in the scenario`)
    }
    node = node[part] as Record<string, unknown>
  }
  node[parts[parts.length - 1] as string] = value
  return copy as unknown as Scenario
}

export interface SweepPoint {
  /** e.g. "adversaries.inflating.detection=0.5", or "" for a scenario without a sweep */
  label: string
  scenario: Scenario
}

/** The sweep grid's points (cartesian product, in key order), each a resolved scenario without a sweep. */
export function sweepPoints(s: Scenario): SweepPoint[] {
  let points: SweepPoint[] = [{ label: '', scenario: { ...s, sweep: {} } }]
  for (const [key, values] of Object.entries(s.sweep)) {
    points = points.flatMap(p =>
      values.map(v => ({
        label: p.label ? `${p.label},${key}=${v}` : `${key}=${v}`,
        scenario: resolveScenario(withValue(p.scenario, key, v)),
      })),
    )
  }
  return points
}

/** Reads, parses and resolves a YAML scenario file; relative data files are resolved against its folder. */
export function loadScenario(path: string): Scenario {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ScenarioError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let parsed: unknown
  try {
    parsed = parse(text)
  } catch (err) {
    throw new ScenarioError(`${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  const s = resolveScenario(parsed ?? {})
  if (s.capacity.file) s.capacity.file = resolve(dirname(path), s.capacity.file)
  return s
}
