// The simulator at scale: 100,000 relays, 1,000 witnesses and 7 ledger members for 24 epochs with crypto
// skipped (budget: 10 minutes, 8 GiB on 2 cores), then 10,000 relays for one epoch with real Ed25519
// signatures, against the same network with crypto skipped as the baseline measured in this run.
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { runSimulation } from '../simulations/engine.ts'
import { resolveScenario } from '../simulations/scenario.ts'

interface Figures {
  wallS: number
  cpuS: number
  /** the main thread's CPU time (the event loop); the rest is the epoch closer's thread */
  mainCpuS: number
  events: number
  eventsPerS: number
  probes: number
  fingerprint: string
}

/** CPU seconds of this process's main thread (Linux: /proc; elsewhere NaN). */
function mainThreadCpu(): number {
  try {
    const fields =
      readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

function measure(label: string, input: Record<string, unknown>, parallelClose: boolean): Figures {
  const scenario = resolveScenario({ name: label, ...input, output: { nodes: false } })
  const cpu0 = process.cpuUsage()
  const main0 = mainThreadCpu()
  const t0 = performance.now()
  let last = t0
  const result = runSimulation(scenario, 1, {
    parallelClose,
    progress: epoch => {
      const now = performance.now()
      if (now - last > 15_000 || epoch === scenario.epochs) {
        process.stderr.write(
          `${label}: ${epoch}/${scenario.epochs} epochs applied, ${((now - t0) / 1000).toFixed(0)} s\n`,
        )
        last = now
      }
    },
  })
  const wallS = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const probes = result.epochs.reduce((n, e) => n + e.probes, 0)
  return {
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    mainCpuS: mainThreadCpu() - main0,
    events: result.events,
    eventsPerS: result.events / wallS,
    probes,
    fingerprint: result.fingerprint,
  }
}

const network = (relays: number, witnesses: number) => ({
  relays,
  witnesses,
  committee: 7,
  witnessesPerRelay: 3,
  minAttestations: 2,
})

export async function main(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      relays: { type: 'string' },
      epochs: { type: 'string' },
      'skip-scale': { type: 'boolean' },
      // the probe model's costlier parts, to time the engine against one that did not model them
      'probe-streams': { type: 'string' },
      'helper-lanes': { type: 'string' },
      'no-background-credit': { type: 'boolean' },
    },
  })
  const relays = Number(values.relays ?? 100_000)
  const epochs = Number(values.epochs ?? 24)
  const model = {
    ...(values['probe-streams'] && { probeStreams: Number(values['probe-streams']) }),
    ...(values['helper-lanes'] && { helperLanes: Number(values['helper-lanes']) }),
    ...(values['no-background-credit'] && { backgroundCredit: false }),
  }
  const out: Record<string, unknown> = {}
  const gib = 2 ** 30

  if (!values['skip-scale']) {
    const scale = measure(
      'scale',
      {
        ...model,
        epochs,
        crypto: 'skip',
        network: network(relays, 1000),
        churn: { crash: 0.01, leave: 0.002, join: 20 },
      },
      true,
    )
    const peak = process.resourceUsage().maxRSS * 1024
    console.log(`scale: ${relays} relays, 1000 witnesses, 7 ledger members, ${epochs} epochs, crypto skipped`)
    console.log(
      `  wall ${scale.wallS.toFixed(1)} s (${(scale.wallS / 600).toFixed(2)} of the 10-minute budget), cpu ${scale.cpuS.toFixed(1)} s (${(scale.cpuS / epochs).toFixed(1)} s/epoch), of which the main thread ${scale.mainCpuS.toFixed(1)} s (${(scale.mainCpuS / epochs).toFixed(1)} s/epoch)`,
    )
    console.log(
      `  machine load average at the end: ${loadavg()
        .map(l => l.toFixed(1))
        .join(' ')} on ${cpus().length} cores`,
    )
    console.log(
      `  ${scale.events} events, ${Math.round(scale.eventsPerS)} events/s, ${scale.probes} probes (${Math.round(scale.probes / scale.wallS)}/s)`,
    )
    console.log(
      `  peak RSS ${(peak / gib).toFixed(2)} GiB (${(peak / (8 * gib)).toFixed(2)} of the 8 GiB budget)`,
    )
    Object.assign(out, {
      scaleRelays: relays,
      scaleEpochs: epochs,
      scaleWallS: Number(scale.wallS.toFixed(1)),
      scaleCpuS: Number(scale.cpuS.toFixed(1)),
      scaleMainThreadCpuS: Number(scale.mainCpuS.toFixed(1)),
      scaleEvents: scale.events,
      scaleEventsPerS: Math.round(scale.eventsPerS),
      scalePeakRssGiB: Number((peak / gib).toFixed(2)),
      scaleWallOfBudget: Number((scale.wallS / 600).toFixed(3)),
    })
  }

  const crypto = { ...model, epochs: 1, network: network(10_000, 100) }
  const skipped = measure('10k-skip', { ...crypto, crypto: 'skip' }, false)
  const real = measure('10k-real', { ...crypto, crypto: 'real' }, false)
  console.log('10,000 relays, 100 witnesses, one epoch')
  console.log(
    `  crypto skipped (baseline): ${skipped.wallS.toFixed(1)} s, ${Math.round(skipped.eventsPerS)} events/s`,
  )
  console.log(
    `  real signatures:           ${real.wallS.toFixed(1)} s, ${Math.round(real.eventsPerS)} events/s`,
  )
  console.log(`  real ÷ skipped wall time:  ${(real.wallS / skipped.wallS).toFixed(2)}×`)
  Object.assign(out, {
    realCryptoWallS: Number(real.wallS.toFixed(1)),
    realCryptoEventsPerS: Math.round(real.eventsPerS),
    skippedCryptoWallS: Number(skipped.wallS.toFixed(1)),
    realOverSkipped: Number((real.wallS / skipped.wallS).toFixed(2)),
  })
  console.log(JSON.stringify(out))
}
