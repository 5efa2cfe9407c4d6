import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host } from '../../../node/host/host.ts'
import { openCircuit } from '../../../node/tunnel/client.ts'
import { nodeArgs, WEIR_ENTRY } from '../../../simulations/testnet/supervisor.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'
import { exited, Processes } from '../processes.ts'
import { endlessSource } from '../../helpers/servers.ts'

// Operating a relay, with real `weir relay` processes on 127.0.0.1: what it logs, SIGHUP with a broken
// config file, and SIGTERM draining open tunnels. (test/node/relay/reload-cap.test.ts measures how fast
// a lower cap reaches an open tunnel.)

interface RelayInfo {
  peerId: string
  addresses: string[]
  status: string
}

interface Started {
  child: ChildProcess
  info: RelayInfo
  stderr: () => string
  dir: string
}

const MB = 1_000_000
const PAYOUT = `0x${'ab'.repeat(20)}`

describe('operating weir relay (real processes)', function () {
  this.timeout(90_000)
  const procs = new Processes()
  let work: string
  let networkId: string
  let client: Host
  let endless: Server
  let sized: Server
  let startedAt: number
  const relays: Record<string, Started> = {}
  const closedPort = { value: 0 }
  const relayDirs = new Set<string>()

  function relayDir(name: string, settings: Record<string, unknown>): string {
    const dir = join(work, name)
    relayDirs.add(dir)
    procs.run(['init', '--dir', dir, '--network', join(work, 'net', 'network.json'), '--payout', PAYOUT])
    writeConfig(dir, settings)
    return dir
  }

  function writeConfig(dir: string, settings: Record<string, unknown> | string): void {
    const path = join(dir, 'config.json')
    const payout = relayDirs.has(dir) ? PAYOUT : undefined
    writeFileSync(path, typeof settings === 'string' ? settings : JSON.stringify({ payout, ...settings }))
  }

  async function startRelay(name: string, settings: Record<string, unknown>): Promise<Started> {
    const dir = relayDir(name, settings)
    const started = {
      ...(await procs.start<RelayInfo>(['relay', '--dir', dir, '--status', '127.0.0.1:0'])),
      dir,
    }
    relays[name] = started
    return started
  }

  /** Runs `weir …`, which should stop before it starts anything. */
  function refused(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = procs.spawn(process.execPath, [...nodeArgs(WEIR_ENTRY), ...args])
    let stderr = ''
    child.stderr!.on('data', d => {
      stderr += d
    })
    // 'close', not 'exit': stderr is read to its end
    return new Promise(resolve => child.once('close', code => resolve({ code, stderr })))
  }

  const port = (server: Server) => (server.address() as { port: number }).port

  function tunnel(relay: string, server: Server): Promise<Duplex> {
    return openCircuit(client, networkId, [multiaddr(relays[relay]!.info.addresses[0]!)], {
      host: '127.0.0.1',
      port: port(server),
    })
  }

  /** Reads a tunnel to its end: the bytes and whether it ended cleanly (not reset). */
  function drain(circuit: Duplex): { bytes: () => number; done: Promise<{ bytes: number; clean: boolean }> } {
    let bytes = 0
    circuit.on('data', (d: Buffer) => {
      bytes += d.length
    })
    const done = new Promise<{ bytes: number; clean: boolean }>(resolve => {
      circuit.once('end', () => {
        // as a client would: done reading, it closes its side too
        circuit.end()
        resolve({ bytes, clean: true })
      })
      circuit.once('error', () => resolve({ bytes, clean: false }))
      circuit.once('close', () => resolve({ bytes, clean: false }))
    })
    return { bytes: () => bytes, done }
  }

  const status = async (relay: string) =>
    (await fetch(`http://${relays[relay]!.info.status}/status`)).json() as Promise<{
      openTunnels: number
      maxBandwidthBps: number | null
      quota: { limitBytes: number; usedBytes: number } | null
    }>

  const lines = (relay: string, pattern: RegExp) =>
    relays[relay]!.stderr()
      .split('\n')
      .filter(l => pattern.test(l))

  before(async () => {
    startedAt = Date.now()
    work = mkdtempSync(join(tmpdir(), 'weir-operate-'))
    endless = endlessSource()
    sized = createServer(socket => {
      socket.on('error', () => {})
      socket.end(Buffer.alloc(2 * MB, 9))
    })
    const closed = createServer()
    await Promise.all(
      [endless, sized, closed].map(s => new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))),
    )
    closedPort.value = port(closed)
    await new Promise<void>(resolve => closed.close(() => resolve()))

    procs.run(['network', 'new', '--out', join(work, 'net'), '--witnesses', '1', '--committee', '1'])
    networkId = JSON.parse(readFileSync(join(work, 'net', 'network.json'), 'utf8')).id
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await Promise.all([
      startRelay('main', {
        'allow-private-exits': true,
        'monthly-quota': '1MB',
        'max-bandwidth': '20MB/s',
        // a bootstrap peer that is not there: the relay says so once
        bootstrap: [`/ip4/127.0.0.1/tcp/${closedPort.value}/p2p/${nobody}`],
      }),
      startRelay('patient', { 'allow-private-exits': true, 'max-bandwidth': '1MB/s', 'drain-seconds': 20 }),
      startRelay('hasty', {
        'allow-private-exits': true,
        'max-bandwidth': '1MB/s',
        'drain-seconds': 1,
        'log-format': 'json',
      }),
    ])
    client = await createHost({
      local: true,
      networkId,
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
  })

  after(async () => {
    procs.killAll()
    await client?.stop()
    endless?.close()
    sized?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('refuses a bad setting in any role’s config file, naming the file and key', async () => {
    const net = join(work, 'net')
    const cases: [string[], string, Record<string, unknown>, RegExp][] = [
      [['relay'], 'bad-relay', { 'max-bandwidth': 'fast' }, /config\.json: max-bandwidth: expects a rate/],
      [
        ['witness'],
        'witness-1',
        { 'log-level': 'loud' },
        /config\.json: log-level: expects one of error, warn/,
      ],
      [['ledger'], 'ledger-1', { 'log-format': 'xml' }, /config\.json: log-format: expects text or json/],
      [['proxy', '--socks', '127.0.0.1:0'], 'proxy', { hops: '3' }, /config\.json: hops: expects 1 or 2/],
    ]
    const runs = cases.map(async ([args, name, settings, message]) => {
      const dir = name === 'bad-relay' ? relayDir(name, {}) : join(name === 'proxy' ? work : net, name)
      mkdirSync(dir, { recursive: true })
      writeConfig(dir, settings)
      const run = await refused([...args, '--dir', dir])
      assert.equal(run.code, 2, `${args[0]}: ${run.stderr}`)
      assert.match(run.stderr, message, args[0])
      assert.ok(run.stderr.includes(join(dir, 'config.json')), args[0])
    })
    await Promise.all(runs)
  })

  it('logs a failed claim once, with its reason and what to do, and exits 1', async () => {
    const key = join(work, 'net', 'ledger-1', 'signer.key')
    const contract = `0x${'1'.repeat(40)}`
    const args = [
      'claim',
      '--ledger',
      `http://127.0.0.1:${closedPort.value}`,
      '--rpc',
      `http://127.0.0.1:${closedPort.value}`,
    ]
    const run = await refused([...args, '--contract', contract, '--key', key])
    assert.equal(run.code, 1, run.stderr)
    const said = run.stderr.trim().split('\n')
    assert.equal(said.length, 1, run.stderr)
    assert.match(
      said[0]!,
      /ERROR +claim: claim failed: the ledger did not give the proof: .*\(what to do: check --ledger \(a ledger API/,
    )
  })

  it('logs an exhausted quota once with its remedy, and a SIGHUP that raises it lets tunnels in again', async () => {
    const first = drain(await tunnel('main', sized))
    assert.deepEqual(await first.done, { bytes: 2 * MB, clean: true })
    // the first tunnel is admitted with nothing used; its 2 MB spend the 1 MB quota
    for (let i = 0; i < 3; i++) await assert.rejects(tunnel('main', sized), /answered 'quota'/)
    const exhausted = lines('main', /monthly quota exhausted/)
    assert.equal(exhausted.length, 1, relays.main!.stderr())
    assert.match(exhausted[0]!, /WARN +relay: monthly quota exhausted: .*\(what to do: raise monthly-quota/)

    writeConfig(relays.main!.dir, {
      'allow-private-exits': true,
      'monthly-quota': '1GB',
      'max-bandwidth': '20MB/s',
      bootstrap: [`/ip4/127.0.0.1/tcp/${closedPort.value}`],
    })
    relays.main!.child.kill('SIGHUP')
    await waitFor(() => lines('main', /configuration reloaded/).length === 1, { what: 'the reload' })
    assert.equal(lines('main', /bootstrap changed; that takes effect at the next start/).length, 1)
    assert.equal((await status('main')).quota?.limitBytes, 1e9)
    const again = drain(await tunnel('main', sized))
    assert.deepEqual(await again.done, { bytes: 2 * MB, clean: true })
    assert.equal(lines('main', /the monthly quota allows tunnels again/).length, 1)
  })

  it('refuses a broken config on SIGHUP, naming the key, and keeps serving with the old one', async () => {
    const before = lines('main', /reload refused/).length
    writeConfig(relays.main!.dir, '{"max-bandwidth": ')
    relays.main!.child.kill('SIGHUP')
    await waitFor(() => lines('main', /reload refused/).length === before + 1, { what: 'the refusal' })
    assert.match(
      lines('main', /reload refused/).at(-1)!,
      /ERROR relay: reload refused, .*config\.json: expected JSON/,
    )

    writeConfig(relays.main!.dir, {
      'allow-private-exits': true,
      'max-bandwidth': '1MB/s',
      'monthly-quota': 'lots',
    })
    relays.main!.child.kill('SIGHUP')
    await waitFor(() => lines('main', /reload refused/).length === before + 2, { what: 'the second refusal' })
    assert.match(lines('main', /reload refused/).at(-1)!, /config\.json: monthly-quota: expects an amount/)

    // the old settings stand, the cap included (the refused file's 1MB/s was not half-applied)
    const now = await status('main')
    assert.equal(now.maxBandwidthBps, 20 * MB)
    assert.equal(now.quota?.limitBytes, 1e9)
    const still = drain(await tunnel('main', sized))
    assert.deepEqual(await still.done, { bytes: 2 * MB, clean: true })
    assert.equal(relays.main!.child.exitCode, null)
  })

  it('lets an open transfer finish when SIGTERM comes mid-transfer and the drain time allows', async () => {
    const transfer = drain(await tunnel('patient', sized))
    await waitFor(() => transfer.bytes() > 0, { what: 'the first bytes' })
    const relay = relays.patient!
    relay.child.kill('SIGTERM')
    await waitFor(() => lines('patient', /SIGTERM: no new tunnels; draining/).length === 1, {
      what: 'the drain to begin',
    })
    // no new tunnels while draining (the protocol is no longer served)
    await assert.rejects(tunnel('patient', sized))
    assert.deepEqual(await transfer.done, { bytes: 2 * MB, clean: true })
    assert.equal(await exited(relay.child), 0)
    assert.equal(lines('patient', /drain time over/).length, 0, relay.stderr())
  })

  it('closes what is still open at the drain bound and exits within it', async () => {
    const transfer = drain(await tunnel('hasty', endless))
    await waitFor(() => transfer.bytes() > 0, { what: 'the first bytes' })
    const relay = relays.hasty!
    const sent = performance.now()
    relay.child.kill('SIGTERM')
    const code = await exited(relay.child)
    const seconds = (performance.now() - sent) / 1000
    assert.equal(code, 0)
    // --drain-seconds 1, plus the host's own stop: far below the 20 s the transfer would take
    assert.ok(seconds < 6, `exited after ${seconds.toFixed(1)} s`)
    assert.equal((await transfer.done).clean, false, 'the endless transfer was cut')
    const logged = relay
      .stderr()
      .split('\n')
      .filter(l => l.startsWith('{'))
      .map(l => JSON.parse(l) as { level: string; msg: string; closed?: number })
    assert.deepEqual(
      logged.filter(e => e.msg.startsWith('drain time over')).map(e => [e.level, e.closed]),
      [['warn', 1]],
    )
  })

  it('says once that no bootstrap peer is reachable, however often it retries', async () => {
    // the relay retries every 15 s: let one retry pass
    await sleep(Math.max(0, startedAt + 17_000 - Date.now()))
    const said = lines('main', /bootstrap unreachable/)
    assert.equal(said.length, 1, relays.main!.stderr())
    assert.match(
      said[0]!,
      /WARN +relay: bootstrap unreachable: every bootstrap dial failed \(what to do: check/,
    )
  })
})
