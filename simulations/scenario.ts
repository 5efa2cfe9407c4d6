import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import * as v from 'valibot'
import { parse } from 'yaml'
import { aMap, expected, parseOrThrow, strictMap } from '../protocol/schema.ts'

/** A scenario mistake: the message starts with the key path, so `network.relays: expected …`. */
export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

// Every key is optional: absent (or null), it takes its default.

const num = (min: number, max: number, def: number, doc: string) =>
  v.nullish(
    v.pipe(
      v.number(expected(`a number from ${min} to ${max}`)),
      v.minValue(min, expected(`a number from ${min} to ${max}`)),
      v.maxValue(max, expected(`a number from ${min} to ${max}`)),
      v.description(doc),
    ),
    def,
  )
const int = (min: number, max: number, def: number, doc: string) =>
  v.nullish(
    v.pipe(
      v.number(expected(`a number from ${min} to ${max}`)),
      v.minValue(min, expected(`a number from ${min} to ${max}`)),
      v.maxValue(max, expected(`a number from ${min} to ${max}`)),
      v.integer(expected('a whole number')),
      v.description(doc),
    ),
    def,
  )
const fraction = (def: number, doc: string) => num(0, 1, def, doc)
const text = (def: string, doc: string) => v.nullish(v.pipe(v.string(expected(doc)), v.description(doc)), def)
const flag = (def: boolean, doc: string) =>
  v.nullish(v.pipe(v.boolean(expected('true or false')), v.description(doc)), def)
const oneOf = <const T extends string>(values: readonly [T, ...T[]], def: T, doc: string) =>
  v.nullish(v.pipe(v.picklist(values, expected(`one of ${values.join(', ')}`)), v.description(doc)), def)
/** A map of settings; absent, every setting takes its default. */
const section = <const E extends v.ObjectEntries>(doc: string, fields: E) =>
  v.nullish(v.pipe(strictMap(fields, 'a map of keys'), v.description(doc)), {})
/** An adversary: present (even empty), it is enabled with defaults for what it leaves out. */
const adversary = <const E extends v.ObjectEntries>(doc: string, fields: E) =>
  v.pipe(
    v.nullish(v.pipe(strictMap(fields, 'a map of keys'), v.description(doc))),
    v.transform(section => section ?? undefined),
  )

const SWEEP = 'a non-empty list of values'

/** The scenario schema: every key, its type, bounds, default and meaning (docs/simulator.md lists it). */
const scenarioSchema = v.nullish(
  strictMap(
    {
      name: text('scenario', 'short name used in reports'),
      description: text('', 'one sentence on what the scenario shows'),
      seed: int(0, 2 ** 31, 1, 'the first seed; run i uses seed + i'),
      runs: int(1, 1000, 1, 'runs (seeds) per sweep point'),
      epochs: int(1, 10_000, 12, 'epochs to simulate'),
      /** real Ed25519 signatures and verification, or skipped (zero signatures, trusted) for scale */
      crypto: oneOf(['real', 'skip'], 'skip', 'real signatures, or skipped'),
      network: section('the simulated network definition', {
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
        emissionPerEpoch: v.nullish(
          v.pipe(
            v.string(expected('token base units minted per epoch (decimal string)')),
            v.regex(/^[1-9][0-9]{0,37}$/, expected('token base units minted per epoch (decimal string)')),
          ),
          '1000000000000000000000',
        ),
      }),
      capacity: section("relays' upload capacity (bytes/s); download = upload × downRatio", {
        distribution: oneOf(
          ['lognormal', 'uniform', 'empirical'],
          'lognormal',
          'how upload capacities are drawn',
        ),
        median: num(1e3, 1e11, 5e6, 'lognormal: median bytes/s'),
        sigma: num(0, 5, 1, 'lognormal: sigma of the underlying normal'),
        min: num(1e3, 1e11, 1e6, 'uniform: lowest bytes/s'),
        max: num(1e3, 1e11, 50e6, 'uniform: highest bytes/s'),
        file: text('', 'empirical: CSV file (relative to the scenario)'),
        column: text('up', 'empirical: the CSV column of bytes/s'),
        downRatio: num(0.01, 100, 4, 'download capacity ÷ upload capacity'),
      }),
      witnessCapacity: num(1e3, 1e12, 1.25e9, "each witness machine's capacity (bytes/s)"),
      probeStreams: int(1, 256, 32, 'parallel TCP streams a probe opens per lane (each takes a fair share)'),
      helperLanes: int(
        1,
        8,
        3,
        'most helpers (parallel circuits) for a target no one helper has twice the score of; 1: one of the fastest 1%',
      ),
      backgroundCredit: flag(
        true,
        "relays report their other traffic during a probe, credited up to a third of the probe's (attestation v2)",
      ),
      latency: section("each node's one-way access latency", {
        medianMs: num(0.1, 5000, 20, 'median one-way latency (ms)'),
        sigma: num(0, 3, 0.5, 'lognormal sigma'),
      }),
      traffic: section('background user traffic that contends with probes', {
        load: fraction(0.2, 'offered user demand ÷ total relay capacity'),
        sessionSeconds: num(0.1, 1e6, 60, 'mean user session length (s)'),
        sessionMedianBps: num(1, 1e11, 1e6, "median of a session's demand (bytes/s)"),
        sessionSigma: num(0, 5, 1, "lognormal sigma of a session's demand"),
        initialWindowBytes: num(1000, 1e9, 14600, "probe flows' initial congestion window"),
      }),
      gossip: section('attestation delivery from witnesses to ledger members', {
        paths: int(1, 64, 3, 'independent gossip paths to each ledger member'),
        hops: int(1, 16, 2, 'relay forwarders on each path'),
        loss: fraction(0.01, 'chance that one hop loses a message'),
      }),
      churn: section('relays joining, leaving and crashing', {
        leave: fraction(0, "a relay's chance to leave for good in an epoch"),
        crash: fraction(0, "a relay's chance to crash in an epoch"),
        downtimeSeconds: num(1, 1e7, 600, 'mean time a crashed relay stays down (s)'),
        join: num(0, 1e6, 0, 'mean new relays per epoch'),
      }),
      adversaries: section('each present section enables one adversary', {
        inflating: adversary('relays that try to spot probes and give them all their capacity', {
          fraction: fraction(0.05, 'share of relays that inflate'),
          detection: fraction(0.5, 'chance that such a relay recognises a probe'),
          fakeBackground: flag(
            false,
            'also report its whole capacity as background traffic during every probe',
          ),
        }),
        lazy: adversary('witnesses that attest a made-up value without probing', {
          fraction: fraction(0.2, 'share of witnesses that are lazy'),
          claimBps: num(0, 1e12, 0, "the value they attest; 0 = the relay's last score"),
        }),
        colluding: adversary('a witness group that inflates chosen relays', {
          witnesses: fraction(0.2, 'share of witnesses in the group'),
          targets: int(1, 1_000_000, 10, 'relays the group inflates'),
          inflation: num(1, 1e6, 10, 'factor the group multiplies their measurements by'),
        }),
        sybil: adversary("one machine's capacity split over many identities", {
          machines: int(1, 100_000, 10, 'Sybil machines (each replaces one relay)'),
          identities: int(2, 1000, 5, 'identities per machine'),
          mode: oneOf(
            ['split', 'shared'],
            'split',
            'split: each identity capped at capacity ÷ n; shared: all share the whole machine',
          ),
          addresses: int(
            1,
            1000,
            1,
            "shared: the addresses a machine's identities are reached at (spread evenly over them)",
          ),
        }),
        byzantine: adversary('ledger members that vote for a different root', {
          members: int(1, 100, 2, 'byzantine committee members'),
          strategy: oneOf(
            ['equivocate', 'withhold'],
            'equivocate',
            'equivocate: sign both roots; withhold: sign only their own',
          ),
        }),
        droppers: adversary('relays that drop the attestations they forward (except about themselves)', {
          fraction: fraction(0.2, 'share of relays that drop'),
        }),
      }),
      output: section('what a run writes', {
        nodes: flag(true, 'write nodes.csv (epoch × node)'),
      }),
      sweep: v.nullish(
        v.pipe(
          aMap('a map of key path → list of values'),
          v.record(
            v.string(),
            v.pipe(
              v.array(v.union([v.number(), v.string(), v.boolean()]), expected(SWEEP)),
              v.minLength(1, expected(SWEEP)),
            ),
          ),
          v.description('key path → list of values; runs the grid × runs seeds'),
        ),
        {},
      ),
    },
    'a map of keys',
  ),
  {},
)

export type Scenario = v.InferOutput<typeof scenarioSchema>
export type AdversaryName = keyof Scenario['adversaries']

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
  if (sybil && sybil.addresses > sybil.identities)
    throw new ScenarioError('adversaries.sybil.addresses: expected at most adversaries.sybil.identities')
}

/** Validates a parsed scenario, fills in defaults, and returns the resolved scenario. */
export function resolveScenario(input: unknown): Scenario {
  const s = parseOrThrow(scenarioSchema, input, (path, message) => new ScenarioError(`${path}: ${message}`))
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
