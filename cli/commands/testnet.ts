import {
  MIN_EPOCH_SECONDS,
  machineProbeConcurrency,
  probesFit,
  shortestEpochSeconds,
  testnetTiming,
} from '../../simulations/testnet/feasibility.ts'
import {
  runTestnet,
  spreadCapacities,
  TOP_CAPACITY_BPS,
  type TestnetReport,
} from '../../simulations/testnet/testnet.ts'
import { parseRate } from '../../node/relay/rate.ts'
import { probeBudgetMs } from '../../witness/schedule.ts'
import type { Command } from '../command.ts'
import { intFlag, parseFlags, UsageError } from '../args.ts'

const USAGE = `weir testnet [--relays 8] [--witnesses 4] [--ledgers 4] [--epoch-seconds N] [--epochs 3]
       [--max-bandwidth 20MB/s] [--out DIR] [--json] [--linger]

Runs a whole network on loopback (each relay on its own 127.0.1.N, the rest on 127.0.0.1): Anvil with
the contracts, every role as its own process (relays shaped to capacities spread from 1 MB/s up to
--max-bandwidth, 20 MB/s by default: a busier machine measures lower caps more closely), a
synthetic client pushing traffic through weir proxy. The ledgers anchor each certified epoch and every
relay claims. Witnesses take probe leases from the run so that, on one machine, probes never share a
relay (each relay is probed by one witness per epoch) and run one at a time per two cores. An epoch must hold every relay's probe even when the
witnesses draw them all at its last moment: a shorter --epoch-seconds is refused, naming the shortest
that fits (the default is that or 60, whichever is longer). Logs and report.json go to --out (a temp
dir by default). With --json the last line is one JSON object. Each role's dashboard address is in the
progress lines and report.json; with --linger every process keeps running after the report, so the
dashboards can be looked at, until Ctrl-C.`

const mbps = (bps: number) => `${(bps / 1e6).toFixed(2)} MB/s`
const tokens = (units: bigint) => `${(Number(units / 10n ** 12n) / 1e6).toFixed(3)} WEIR`

function table(report: TestnetReport): string {
  const last = report.epochs.at(-1)
  if (!last) return ''
  const rows = last.relays.map(r => {
    const unmeasured = report.epochs.flatMap(e => {
      const reason = e.relays.find(x => x.peerId === r.peerId)?.unmeasured
      return reason === undefined ? [] : [`epoch ${e.epoch}: ${reason}`]
    })
    const reward = report.epochs.reduce(
      (sum, e) => sum + BigInt(e.relays.find(x => x.peerId === r.peerId)?.reward ?? 0),
      0n,
    )
    const claimed = report.epochs.reduce(
      (sum, e) => sum + BigInt(e.relays.find(x => x.peerId === r.peerId)?.claimed ?? 0),
      0n,
    )
    const error = r.capacityBps > 0 ? ((r.measuredBps - r.capacityBps) / r.capacityBps) * 100 : 0
    return [
      `${r.peerId.slice(0, 12)}…${r.peerId.slice(-4)}`,
      mbps(r.capacityBps),
      r.unmeasured === undefined
        ? `${mbps(r.measuredBps)} (${error >= 0 ? '+' : ''}${error.toFixed(1)}%)`
        : '-',
      tokens(reward),
      tokens(claimed),
      unmeasured.join('; '),
    ]
  })
  const header = [
    'relay',
    'true capacity',
    'measured (last epoch)',
    'reward (all epochs)',
    'claimed on chain',
    'unmeasured',
  ]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] as string).length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map(w => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** The one JSON line of --json: epochs and relays without payout addresses, and the dashboards. */
function jsonReport({ epochs, dashboards }: TestnetReport) {
  return {
    epochs: epochs.map(({ epoch, root, ledgersAgreeing, anchorTx, relays }) => ({
      epoch,
      root,
      ledgersAgreeing,
      anchorTx,
      relays: relays.map(({ payout: _, ...r }) => r),
    })),
    dashboards,
  }
}

/** --max-bandwidth: the fastest relay's cap, at least 2 MB/s so that the spread from 1 MB/s is one */
function topCapacity(text: string | undefined): number {
  if (text === undefined) return TOP_CAPACITY_BPS
  let bps: number
  try {
    bps = parseRate(text)
  } catch (err) {
    throw new UsageError(`--max-bandwidth ${(err as Error).message}`)
  }
  if (bps < 2_000_000) throw new UsageError(`--max-bandwidth expects at least 2MB/s, got '${text}'`)
  return bps
}

export const command: Command = {
  summary: 'run a whole local network through its full cycle and report it',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      relays: { type: 'string' },
      witnesses: { type: 'string' },
      ledgers: { type: 'string' },
      'epoch-seconds': { type: 'string' },
      epochs: { type: 'string' },
      'max-bandwidth': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      linger: { type: 'boolean', default: false },
    })
    const relays = intFlag(v.relays, 'relays', 8, 2, 64)
    const witnesses = intFlag(v.witnesses, 'witnesses', 4, 1, 64)
    const load = { relays, witnesses, concurrency: machineProbeConcurrency() }
    const shortest = shortestEpochSeconds(load)
    const epochSeconds = intFlag(
      v['epoch-seconds'],
      'epoch-seconds',
      Math.max(60, shortest),
      MIN_EPOCH_SECONDS,
      3600,
    )
    if (!probesFit(load, epochSeconds)) {
      const probeSeconds = probeBudgetMs(testnetTiming(epochSeconds)) / 1000
      throw new UsageError(
        `--epoch-seconds ${epochSeconds} cannot hold every relay's probe: ${relays} probes an epoch, ` +
          `${load.concurrency} at a time on this machine, of ${probeSeconds} s each, must all start ` +
          `within the grace (half an epoch) even when drawn at the epoch's last moment; ` +
          `use --epoch-seconds ${shortest} or more, or fewer relays`,
      )
    }
    const stop = new AbortController()
    const onSignal = () => {
      console.error('weir testnet: stopping every process…')
      stop.abort()
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    const started = Date.now()
    const printReport = async (report: TestnetReport) => {
      console.log(table(report))
      console.log(`\nlogs and report.json: ${report.out}`)
      if (v.json) console.log(JSON.stringify(jsonReport(report)))
      if (!v.linger || stop.signal.aborted) return
      console.error(
        `weir testnet: every process keeps running until Ctrl-C; dashboards:\n${Object.entries(
          report.dashboards,
        )
          .map(([name, url]) => `  ${name.padEnd(10)} ${url}`)
          .join('\n')}`,
      )
      await new Promise(resolve => stop.signal.addEventListener('abort', resolve, { once: true }))
    }
    await runTestnet(
      {
        relays,
        witnesses,
        ledgers: intFlag(v.ledgers, 'ledgers', 4, 1, 16),
        epochSeconds,
        epochs: intFlag(v.epochs, 'epochs', 3, 1, 100),
        capacities: spreadCapacities(relays, topCapacity(v['max-bandwidth'])),
        ...(v.out === undefined ? {} : { out: v.out }),
        progress: line =>
          console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
        whileUp: printReport,
      },
      stop.signal,
    )
    return 0
  },
}
