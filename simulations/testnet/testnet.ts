import { randomBytes } from 'node:crypto'
import { extname } from 'node:path'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as v from 'valibot'
import { formatUnits, type Hex, hexToBytes } from 'viem'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { anchoredEpochs, claimRewards, deployContracts, rootOf } from '../../contracts/client.ts'
import { fetchRewards } from '../../ledger/anchoring.ts'
import { initDataDir, writeNetworkFile } from '../../node/host/datadir.ts'
import { createSecp256k1Key } from '../../node/host/identity.ts'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { epochAt, epochStart, graceEnd } from '../../protocol/epoch.ts'
import { certificateAnswer, parseAnswer, tallyAnswer } from '../../protocol/ledger-api.ts'
import {
  type Address,
  type NetworkDefinition,
  parseNetworkDefinition,
  networkDefinitionToJson,
} from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import { probeBudgetMs } from '../../witness/schedule.ts'
import { PROBE_END, type ProbeEnd } from '../../witness/witness.ts'
import { machineProbeConcurrency, testnetTiming } from './feasibility.ts'
import { ProbeLeases } from './probe-leases.ts'
import { type RoleProcess, Supervisor } from './supervisor.ts'
import type { WitnessProcessOptions } from './witness-process.ts'

export interface TestnetOptions {
  relays: number
  witnesses: number
  ledgers: number
  epochSeconds: number
  epochs: number
  /** folder for the network, data dirs, logs and report; a temp dir when absent */
  out?: string
  /** relay capacities in bytes/s; by default spread evenly over 1–20 MB/s */
  capacities?: number[]
  /** probes the machine runs at once (each on its own relays); machineProbeConcurrency() by default */
  probeConcurrency?: number
  progress?: (line: string) => void
  /** runs with the report written and every process still up (to look at dashboards), before teardown */
  whileUp?: (report: TestnetReport) => Promise<void>
}

export interface TestnetRelay {
  peerId: string
  payout: Address
  capacityBps: number
  measuredBps: number
  reward: string
  claimed: string
  /** why no witness's measurement of this relay counted in the epoch, from the witnesses' logs */
  unmeasured?: string
}

export interface TestnetEpoch {
  epoch: number
  root: Hex
  ledgersAgreeing: number
  anchorTx: Hex
  relays: TestnetRelay[]
}

export interface TestnetReport {
  out: string
  network: string
  epochs: TestnetEpoch[]
  proxy: { requests: number; failed: number; bytes: number }
  /** each role's dashboard, by process name (relay-1, witness-1, ledger-1, …) */
  dashboards: Record<string, string>
}

const MB = 1_000_000

// The testnet's witnesses run from their own entry, compiled or not like this module.
const WITNESS_PROCESS = new URL(`./witness-process${extname(import.meta.url)}`, import.meta.url)

// Every process shares this machine's cores, and witnesses measure relays by how fast they carry probes: the
// roles whose speed nothing measures (ledgers, the proxy and Anvil) run at a lower CPU priority, so that
// their bursts (an epoch's tally, anchoring, claims) take the CPU from probes less.
const BACKGROUND = 10
const background = { niceness: BACKGROUND }

/** The fastest relay's capacity unless asked otherwise. */
export const TOP_CAPACITY_BPS = 20 * MB

/** Capacities spread evenly from 1 MB/s up to `topBps` (one relay: half of it), in whole 100 kB/s. */
export function spreadCapacities(count: number, topBps = TOP_CAPACITY_BPS): number[] {
  const top = topBps / MB
  if (count === 1) return [Math.round(top * 5) * 100_000]
  return Array.from(
    { length: count },
    (_, i) => Math.round((1 + ((top - 1) * i) / (count - 1)) * 10) * 100_000,
  )
}

async function getJson<S extends v.GenericSchema>(url: string, schema: S): Promise<v.InferOutput<S>> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
  return parseAnswer(schema, await response.json(), url)
}

/**
 * Where relay i listens: an address of its own in 127.0.1.0/24 (all of 127.0.0.0/8 is loopback), so
 * that witnesses, which probe the identities reached at one address together as one machine, see each
 * relay as a machine of its own. Everything else (ledgers, witnesses, Anvil) is on 127.0.0.1 and the
 * witnesses' sinks on 127.0.0.2, outside that range.
 */
export const relayListen = (i: number): string => `/ip4/127.0.1.${i + 1}/tcp/0`

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * A whole network on loopback (relays on 127.0.1.N, the rest on 127.0.0.1): Anvil with the contracts,
 * and every role as its own process. Runs the epochs, anchors each certified epoch, claims for every relay and reports what each part saw.
 */
export async function runTestnet(o: TestnetOptions, stop: AbortSignal): Promise<TestnetReport> {
  const say = o.progress ?? (() => {})
  const out = o.out ?? mkdtempSync(join(tmpdir(), 'weir-testnet-'))
  const logs = join(out, 'logs')
  mkdirSync(logs, { recursive: true })
  const supervisor = new Supervisor(logs)
  let anvil: Anvil | undefined
  let web: Server | undefined
  let leases: ProbeLeases | undefined
  let traffic: Promise<void> | undefined
  const trafficStop = new AbortController()
  const stopped = () => {
    if (stop.aborted) throw new Error('stopped')
  }
  try {
    const capacities = o.capacities ?? spreadCapacities(o.relays)
    say(`starting Anvil and deploying the contracts`)
    anvil = await startAnvil({ accounts: 1 + o.relays + o.ledgers, niceness: BACKGROUND })
    const deployerKey = anvil.privateKeys[0] as Hex

    const timing = testnetTiming(o.epochSeconds)
    const made = createLocalNetwork({
      out: join(out, 'network'),
      witnesses: o.witnesses,
      committee: o.ledgers,
      epochSeconds: o.epochSeconds,
      graceSeconds: timing.graceSeconds,
      witnessesPerRelay: timing.witnessesPerRelay,
      minAttestations: 1,
      probeSeconds: timing.probe.windowSeconds,
      eligibilityDelay: 3,
      emission: 1000n * 10n ** 18n,
      chainId: anvil.chainId,
      genesis: Date.now(),
    })
    const { rewards } = await deployContracts({
      rpcUrl: anvil.rpcUrl,
      deployerKey,
      networkId: made.network.id,
      committee: made.network.committee.map(m => m.signer),
      quorum: made.network.quorum,
      emissionPerEpoch: made.network.emissionPerEpoch,
    })
    stopped()

    // The relays are registered at genesis, so they are eligible from epoch 0 with the default delay.
    const relayKeys = capacities.map(() => generateEd25519())
    const relays = relayKeys.map((key, i) => ({
      peerId: peerIdToString(peerIdOfPublicKey(key.publicKey)),
      payout: (anvil as Anvil).accounts[i + 1]?.toLowerCase() as Address,
      payoutKey: (anvil as Anvil).privateKeys[i + 1] as Hex,
      capacityBps: capacities[i] as number,
      dir: join(out, 'network', `relay-${i + 1}`),
    }))
    // Ledgers one after another, then relays, then witnesses and the proxy, which take a few seconds more
    // to hold every relay record and locate every relay. The estimate leaves about 60% more than an idle
    // 2-core machine takes (docs/witness.md, "Genesis"): overrunning genesis costs a whole epoch, and every
    // idle second before it is one a user waits.
    const startupMs = 10_000 + 1000 * o.ledgers + 600 * o.relays + 1600 * o.witnesses
    const network: NetworkDefinition = parseNetworkDefinition({
      ...networkDefinitionToJson(made.network),
      genesis: Date.now() + startupMs,
      chain: { chainId: anvil.chainId, rewards },
      relays: relays.map(r => ({ peerId: r.peerId, payout: r.payout })),
    })
    writeNetworkFile(made.path, network)
    for (const dir of [...made.witnessDirs, ...made.ledgerDirs])
      writeNetworkFile(join(dir, 'network.json'), network)
    relays.forEach((r, i) => {
      initDataDir(r.dir, network, { payout: r.payout }, relayKeys[i])
    })

    say(
      `network ${network.id}: ${o.relays} relays, ${o.witnesses} witnesses, ${o.ledgers} ledgers, ` +
        `${o.epochs} epochs of ${o.epochSeconds} s; genesis in ${Math.round(startupMs / 1000)} s`,
    )
    // Each ledger anchors certified epochs itself, paying gas from its own Anvil account.
    const anchorArgs = made.ledgerDirs.map((dir, i) => {
      createSecp256k1Key(
        join(dir, 'anchor.key'),
        Uint8Array.from(hexToBytes((anvil as Anvil).privateKeys[1 + o.relays + i] as Hex)),
      )
      return [
        '--rpc',
        (anvil as Anvil).rpcUrl,
        '--contract',
        rewards,
        '--anchor-key',
        join(dir, 'anchor.key'),
      ]
    })
    const anyPort = '/ip4/127.0.0.1/tcp/0'
    const listen = ['--listen', anyPort]
    const first = await supervisor.start(
      'ledger-1',
      [
        'ledger',
        '--dir',
        made.ledgerDirs[0] as string,
        '--signer-key',
        join(made.ledgerDirs[0] as string, 'signer.key'),
        '--api',
        '127.0.0.1:0',
        ...listen,
        ...(anchorArgs[0] as string[]),
      ],
      background,
    )
    // Ledgers vote once connected to quorum − 1 other members: each one bootstraps from all before it.
    const ledgers: RoleProcess[] = [first]
    for (const [i, dir] of made.ledgerDirs.slice(1).entries()) {
      const earlier = ledgers.flatMap(l => ['--bootstrap', String((l.ready.addresses as string[])[0])])
      ledgers.push(
        await supervisor.start(
          `ledger-${i + 2}`,
          [
            'ledger',
            '--dir',
            dir,
            '--signer-key',
            join(dir, 'signer.key'),
            '--api',
            '127.0.0.1:0',
            ...listen,
            ...earlier,
            ...(anchorArgs[i + 1] as string[]),
          ],
          background,
        ),
      )
    }
    const bootstrap = ledgers.flatMap(l => ['--bootstrap', String((l.ready.addresses as string[])[0])])
    leases = await ProbeLeases.listen(o.probeConcurrency ?? machineProbeConcurrency())
    const relayProcesses = await Promise.all(
      relays.map((r, i) =>
        supervisor.start(`relay-${i + 1}`, [
          'relay',
          '--dir',
          r.dir,
          '--listen',
          relayListen(i),
          ...bootstrap,
          '--max-bandwidth',
          `${r.capacityBps}B/s`,
          '--allow-private-exits',
          '--status',
          '127.0.0.1:0',
          '--ledger',
          `http://${String(first.ready.api)}`,
        ]),
      ),
    )
    say(`ledgers and relays up`)
    // Witnesses and the proxy bootstrap from the relays too: on connecting they fetch each relay's
    // record (its capacity cap and addresses) at once, where gossip would carry it only from genesis on.
    const ledgersAndRelays = [...ledgers, ...relayProcesses].map(p =>
      String((p.ready.addresses as string[])[0]),
    )
    const withRelays = ledgersAndRelays.flatMap(a => ['--bootstrap', a])
    const [proxy, ...witnesses] = await Promise.all([
      supervisor.start(
        'proxy',
        ['proxy', '--socks', '127.0.0.1:0', '--network', made.path, ...withRelays, '--hops', '2'],
        background,
      ),
      ...made.witnessDirs.map((dir, i) => {
        const options: WitnessProcessOptions = {
          dir,
          listen: [anyPort],
          bootstrap: ledgersAndRelays,
          sink: { host: '127.0.0.2', port: 0 },
          status: { host: '127.0.0.1', port: 0 },
          ledger: `http://${String(first.ready.api)}`,
          concurrency: 2,
          leases: (leases as ProbeLeases).url,
        }
        return supervisor.start(`witness-${i + 1}`, [JSON.stringify(options)], { module: WITNESS_PROCESS })
      }),
    ])
    stopped()

    // A synthetic user: small downloads through the proxy from a local web server, all epochs long. It
    // spends the relays' tokens like any user, so it stays small (16 KiB/s, under 2% of the slowest cap)
    // next to the capacities the witnesses measure.
    web = createServer((req, res) => {
      const size = Math.min(
        Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bytes')) || 0,
        4 * MB,
      )
      res.writeHead(200, { 'content-length': size })
      res.end(randomBytes(size))
    })
    await new Promise<void>(resolve => (web as Server).listen(0, '127.0.0.1', resolve))
    const webPort = (web.address() as { port: number }).port
    const usage = { requests: 0, failed: 0, bytes: 0 }
    const [socksHost, socksPort] = String(proxy.ready.socks).split(':') as [string, string]
    traffic = (async () => {
      while (!trafficStop.signal.aborted) {
        usage.requests++
        try {
          usage.bytes += await fetchThroughSocks(socksHost, Number(socksPort), webPort, 16 * 1024)
        } catch {
          usage.failed++
        }
        await sleep(1000)
      }
    })()

    const witnessStatus = witnesses.map(w => `http://${String(w.ready.status)}/status`)
    const dashboards = Object.fromEntries([
      ...[...relayProcesses, ...witnesses].map(p => [p.name, `http://${String(p.ready.status)}/`]),
      ...ledgers.map(l => [l.name, `http://${String(l.ready.api)}/`]),
    ])
    say(
      `witnesses and the proxy up; dashboards: ${Object.entries(dashboards)
        .map(([n, u]) => `${n} ${u}`)
        .join(', ')}`,
    )
    const missing = await waitForRelayRecords(witnessStatus, o.relays, Date.now() + 30_000, stop)
    if (missing > 0)
      say(
        `${missing} witness(es) still lack some relay records; their first probes may choose helpers blindly`,
      )
    const apis = ledgers.map(l => `http://${String(l.ready.api)}`)
    // Startup can overrun the genesis estimate on a busy machine: the run then starts with the first
    // whole epoch after every role is up, so that no epoch is measured by half-started witnesses.
    const firstEpoch = Date.now() < network.genesis ? 0 : epochAt(network, Date.now()) + 1
    if (firstEpoch > 0) say(`startup overran genesis; the run starts at epoch ${firstEpoch}`)
    const result: TestnetEpoch[] = []
    const claimedSoFar = new Map<Address, bigint>()
    const claim = async (api: string, r: (typeof relays)[number]): Promise<bigint> => {
      // A 404 means no leaf for this account yet: nothing owed.
      const owed = await fetchRewards(api, r.payout).catch(() => ({
        amount: 0n,
        proof: [] as Hex[],
      }))
      if (owed.amount <= (claimedSoFar.get(r.payout) ?? 0n)) return 0n
      const { amount } = await claimRewards({
        rpcUrl: (anvil as Anvil).rpcUrl,
        key: r.payoutKey,
        rewards,
        account: r.payout,
        cumulativeAmount: owed.amount,
        proof: owed.proof,
      })
      claimedSoFar.set(r.payout, owed.amount)
      return amount
    }
    if (firstEpoch > 0) {
      // Settle what the epochs before the run paid, so that each claim in the run is that epoch's reward.
      const before = await waitForCertificates(
        apis,
        firstEpoch - 1,
        graceEnd(network, firstEpoch - 1) + 60_000,
        stop,
      )
      await waitForAnchor(
        anvil.rpcUrl,
        rewards,
        before[0] as Certificate,
        graceEnd(network, firstEpoch) + 60_000,
        stop,
      )
      const { api } = await waitForTally(apis, firstEpoch - 1, graceEnd(network, firstEpoch) + 60_000, stop)
      let settled = 0n
      for (const r of relays) settled += await claim(api, r)
      say(`claimed ${formatUnits(settled, 18)} WEIR earned before the run`)
    }
    for (let epoch = firstEpoch; epoch < firstEpoch + o.epochs; epoch++) {
      const deadline = graceEnd(network, epoch) + 60_000
      say(
        `epoch ${epoch}: running until ${new Date(epochStart(network, epoch + 1)).toISOString().slice(11, 19)}`,
      )
      const certificates = await waitForCertificates(apis, epoch, deadline, stop)
      const roots = new Set(certificates.map(c => `${c.contentRoot}/${c.rewardsRoot}/${c.cumulativeTotal}`))
      if (roots.size !== 1)
        throw new Error(`epoch ${epoch}: ledgers certified different roots: ${[...roots].join(' vs ')}`)
      const cert = certificates[0] as Certificate
      // The ledgers anchor what they certify (--anchor-key); the run waits for the chain to hold it.
      const anchorTx = await waitForAnchor(anvil.rpcUrl, rewards, cert, deadline, stop)
      const { api, tally } = await waitForTally(apis, epoch, deadline, stop)
      const epochRelays: TestnetRelay[] = []
      for (const r of relays) {
        const row = tally.relays.find(t => t.peerId === r.peerId)
        const reward = row?.reward ?? 0n
        const claimed = await claim(api, r)
        epochRelays.push({
          peerId: r.peerId,
          payout: r.payout,
          capacityBps: r.capacityBps,
          measuredBps: row?.score ?? 0,
          reward: reward.toString(),
          claimed: claimed.toString(),
        })
      }
      result.push({
        epoch,
        root: cert.rewardsRoot,
        ledgersAgreeing: certificates.length,
        anchorTx,
        relays: epochRelays,
      })
      say(
        `epoch ${epoch}: certified by ${certificates.length}/${o.ledgers} ledgers, rewards root ${cert.rewardsRoot.slice(0, 18)}…, ` +
          `anchored in ${anchorTx.slice(0, 18)}…, ${epochRelays.filter(r => r.claimed !== '0').length} claims, ` +
          `${epochRelays.filter(r => r.measuredBps > 0).length}/${o.relays} relays measured`,
      )
    }
    // Why a relay went unmeasured is in the logs of the witnesses assigned to it, once their last probes
    // of the run have ended: by the last start plus the probe timeout.
    const last = firstEpoch + o.epochs - 1
    await sleep(
      graceEnd(network, last) - probeBudgetMs(network) + network.probe.timeoutSeconds * 1000 - Date.now(),
    )
    const ends = witnesses.flatMap(w => probeEnds(w.name, readFileSync(w.log, 'utf8')))
    for (const e of result)
      for (const r of e.relays) if (r.measuredBps === 0) r.unmeasured = whyUnmeasured(ends, e.epoch, r.peerId)
    const report: TestnetReport = { out, network: network.id, epochs: result, proxy: usage, dashboards }
    writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
    await o.whileUp?.(report)
    return report
  } finally {
    trafficStop.abort()
    await traffic
    web?.close()
    await leases?.close()
    await supervisor.stopAll()
    await anvil?.stop()
  }
}

/** A witness's `probe-end` log line (see ProbeEnd), with the witness's name. */
type LoggedEnd = ProbeEnd & { witness: string }

function probeEnds(witness: string, log: string): LoggedEnd[] {
  const tag = `weir witness: ${PROBE_END} `
  return log
    .split('\n')
    .filter(line => line.startsWith(tag))
    .map(line => ({ ...(JSON.parse(line.slice(tag.length)) as ProbeEnd), witness }))
}

/** Why no measurement of `relay` counted in `epoch`, in the words of the witnesses that were to probe it. */
export function whyUnmeasured(ends: readonly LoggedEnd[], epoch: number, relay: string): string {
  const own = ends.filter(e => e.epoch === epoch && e.relay === relay)
  const wholeEpoch = ends.filter(e => e.epoch === epoch && e.relay === undefined)
  const reasons = (own.length > 0 ? own : wholeEpoch).map(e => {
    const said =
      e.end === 'skipped'
        ? `no probe: ${e.reason}`
        : e.end === 'unpublished'
          ? `${e.outcome} probe not published: ${e.reason}`
          : e.outcome === 'ok'
            ? 'attested ok, but not in the certified tally'
            : `probe ${e.outcome}`
    return `${said} (${e.witness})`
  })
  return reasons.length > 0 ? reasons.join(', ') : 'no witness logged a probe of it'
}

type Certificate = v.InferOutput<typeof certificateAnswer>

/** The part of a witness's `/status` that the run waits on. */
const relaysKnownAnswer = v.object({ relaysKnown: v.number() })

/**
 * Waits until every witness holds the records of all `relays` (it picks helpers by the capacities in
 * them), or until `deadline`; returns how many witnesses still lack some.
 */
async function waitForRelayRecords(
  statusUrls: string[],
  relays: number,
  deadline: number,
  stop: AbortSignal,
) {
  const lacking = async () => {
    let n = 0
    for (const url of statusUrls) {
      const known = await getJson(url, relaysKnownAnswer).then(
        s => s.relaysKnown,
        () => 0,
      )
      if (known < relays) n++
    }
    return n
  }
  for (;;) {
    if (stop.aborted) throw new Error('stopped')
    const n = await lacking()
    if (n === 0 || Date.now() > deadline) return n
    await sleep(250)
  }
}

/** Polls every ledger until each serves a certificate for `epoch` (or the deadline passes). */
async function waitForCertificates(apis: string[], epoch: number, deadline: number, stop: AbortSignal) {
  const found = new Map<string, Certificate>()
  while (found.size < apis.length) {
    if (stop.aborted) throw new Error('stopped')
    for (const api of apis) {
      if (found.has(api)) continue
      try {
        found.set(api, await getJson(`${api}/epochs/${epoch}/certificate`, certificateAnswer))
      } catch {}
    }
    if (found.size < apis.length && Date.now() > deadline) {
      if (found.size > 0) break
      throw new Error(`epoch ${epoch}: no ledger certified it in time`)
    }
    if (found.size < apis.length) await sleep(500)
  }
  return [...found.values()]
}

/**
 * Waits until a ledger has finished `epoch`, so that its tally and its /rewards both cover it: a ledger
 * that missed the quorum adopts the certificate a moment after the others.
 */
async function waitForTally(apis: string[], epoch: number, deadline: number, stop: AbortSignal) {
  for (;;) {
    if (stop.aborted) throw new Error('stopped')
    for (const api of apis) {
      const tally = await getJson(`${api}/epochs/${epoch}/tally`, tallyAnswer).catch(() => undefined)
      if (tally?.certified) return { api, tally }
    }
    if (Date.now() > deadline) throw new Error(`epoch ${epoch}: no ledger finished its tally in time`)
    await sleep(500)
  }
}

/** Waits until the chain holds `cert`'s roots for its epoch; returns the anchoring transaction. */
async function waitForAnchor(
  rpcUrl: string,
  rewards: Address,
  cert: Certificate,
  deadline: number,
  stop: AbortSignal,
): Promise<Hex> {
  for (;;) {
    if (stop.aborted) throw new Error('stopped')
    const onChain = await rootOf({ rpcUrl, rewards, epoch: cert.epoch })
    if (onChain) {
      const same =
        onChain.contentRoot.toLowerCase() === cert.contentRoot.toLowerCase() &&
        onChain.rewardsRoot.toLowerCase() === cert.rewardsRoot.toLowerCase() &&
        onChain.cumulativeTotal === cert.cumulativeTotal
      if (!same)
        throw new Error(`epoch ${cert.epoch}: the chain anchored other roots than the ledgers certified`)
      const event = (await anchoredEpochs({ rpcUrl, rewards })).find(a => a.epoch === BigInt(cert.epoch))
      if (event) return event.txHash
    }
    if (Date.now() > deadline) throw new Error(`epoch ${cert.epoch}: no ledger anchored it in time`)
    await sleep(500)
  }
}

/** GETs `bytes` random bytes from the local web server through the SOCKS5 proxy; returns bytes received. */
function fetchThroughSocks(
  socksHost: string,
  socksPort: number,
  webPort: number,
  bytes: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(socksPort, socksHost)
    socket.setTimeout(20_000, () => socket.destroy(new Error('timeout')))
    const host = Buffer.from('localhost')
    let stage = 0
    let received = 0
    socket.on('connect', () => socket.write(Uint8Array.of(5, 1, 0)))
    socket.on('data', chunk => {
      if (stage === 0) {
        stage = 1
        const port = Buffer.alloc(2)
        port.writeUInt16BE(webPort)
        socket.write(Buffer.concat([Uint8Array.of(5, 1, 0, 3, host.length), host, port]))
      } else if (stage === 1) {
        if (chunk[1] !== 0) return socket.destroy(new Error(`SOCKS reply ${chunk[1]}`))
        stage = 2
        socket.write(`GET /?bytes=${bytes} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
      } else {
        received += chunk.length
      }
    })
    socket.on('error', reject)
    socket.on('close', () => (received > bytes ? resolve(received) : reject(new Error('short response'))))
  })
}
