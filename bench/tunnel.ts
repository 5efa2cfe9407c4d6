// `npm run bench -- tunnel [MB] [ROUNDS]`: goodput of a bulk transfer (1 GB by default) from a client
// through `weir proxy` → `weir relay` → a local sink (1 hop) and through `weir proxy --hops 2` → relay A →
// relay B → the sink (2 hops, the target named inside an end-to-end channel to B), against raw TCP from
// the same client to the same sink, alternated over ROUNDS (3) in the same run, best of each; plus
// CPU-seconds per GB of each relay by its place in the circuit, the proxies and the client+sink. A
// further path, plain TCP through two forwarding processes (Node's `pipe`, no encryption, no muxing),
// shows what the extra processes alone cost on this machine. Last line: one JSON object.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { nodeArgs, WEIR_ENTRY } from '../simulations/testnet/supervisor.ts'

/** `weir` from the sources, under tsx */
const WEIR = nodeArgs(WEIR_ENTRY)
const CHUNK = Buffer.alloc(256 * 1024, 0x5a)

// The obvious forwarder: accept, connect to the next hop, pipe both ways. Argument: the next hop's port.
const FORWARDER = `
const net = require('node:net')
const server = net.createServer({ allowHalfOpen: true }, client => {
  const next = net.connect({ host: '127.0.0.1', port: Number(process.argv[1]), allowHalfOpen: true })
  client.pipe(next).on('error', () => client.destroy())
  next.pipe(client).on('error', () => next.destroy())
})
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
`

export async function main(args: string[]): Promise<void> {
  const megabytes = Number(args[0] ?? 1000)
  const rounds = Number(args[1] ?? 3)
  const bytes = megabytes * 1e6
  const work = mkdtempSync(join(tmpdir(), 'weir-bench-'))
  const children: ChildProcess[] = []
  const sink = await startSink()
  try {
    weir(['network', 'new', '--out', join(work, 'net'), '--witnesses', '1', '--committee', '1'])
    const dir = join(work, 'relay')
    weir([
      'init',
      '--dir',
      dir,
      '--network',
      join(work, 'net', 'network.json'),
      '--payout',
      `0x${'ab'.repeat(20)}`,
    ])
    const relayA = await start(
      ['relay', '--dir', dir, '--allow-private-exits', '--status', '127.0.0.1:0'],
      children,
    )
    const dirB = join(work, 'relay-b')
    weir([
      'init',
      '--dir',
      dirB,
      '--network',
      join(work, 'net', 'network.json'),
      '--payout',
      `0x${'cd'.repeat(20)}`,
    ])
    const relayB = await start(
      [
        'relay',
        '--dir',
        dirB,
        '--allow-private-exits',
        '--status',
        '127.0.0.1:0',
        '--bootstrap',
        relayA.info.addresses[0],
      ],
      children,
    )
    const proxy = await start(
      ['proxy', '--socks', '127.0.0.1:0', '--relay', relayA.info.addresses[0]],
      children,
    )
    const proxy2 = await start(
      [
        'proxy',
        '--socks',
        '127.0.0.1:0',
        '--hops',
        '2',
        '--relay',
        relayA.info.addresses[0],
        '--relay',
        relayB.info.addresses[0],
      ],
      children,
    )
    const socksPort = Number(String(proxy.info.socks).split(':').pop())
    const socksPort2 = Number(String(proxy2.info.socks).split(':').pop())
    const secondHop = await start(['-e', FORWARDER, String(sink.port)], children, [])
    const firstHop = await start(['-e', FORWARDER, String(secondHop.info.port)], children, [])

    // Warm up the paths (connections, yamux windows, JIT) before measuring.
    await transfer(await socksConnect(socksPort, sink.port), 20e6)
    await transfer(await socksConnect(socksPort2, sink.port), 20e6)
    // Other work on the machine skews single runs: alternate the paths and keep each one's best.
    let rawSeconds = Number.POSITIVE_INFINITY
    let forwardedSeconds = Number.POSITIVE_INFINITY
    let tunnelSeconds = Number.POSITIVE_INFINITY
    let twoHopSeconds = Number.POSITIVE_INFINITY
    const cpu = { relay: 0, proxy: 0, bench: 0, firstHop: 0, secondHop: 0, proxy2: 0 }
    const relays = [relayA, relayB]
    for (let round = 0; round < rounds; round++) {
      rawSeconds = Math.min(rawSeconds, await transfer(await tcpConnect(sink.port), bytes))
      forwardedSeconds = Math.min(
        forwardedSeconds,
        await transfer(await tcpConnect(firstHop.info.port), bytes),
      )
      const before = [
        cpuSeconds(relayA.child.pid!),
        cpuSeconds(proxy.child.pid!),
        process.cpuUsage(),
      ] as const
      tunnelSeconds = Math.min(tunnelSeconds, await transfer(await socksConnect(socksPort, sink.port), bytes))
      cpu.relay += cpuSeconds(relayA.child.pid!) - before[0]
      cpu.proxy += cpuSeconds(proxy.child.pid!) - before[1]
      const own = process.cpuUsage(before[2])
      cpu.bench += (own.user + own.system) / 1e6

      // The proxy draws the order of its two relays per connection: the first is the one that counts
      // a new tunnel from the proxy itself.
      const tunnels = await Promise.all(relays.map(r => tunnelsFrom(r.info.status, proxy2.info.peerId)))
      const relaysBefore = relays.map(r => cpuSeconds(r.child.pid!))
      const proxy2Before = cpuSeconds(proxy2.child.pid!)
      twoHopSeconds = Math.min(
        twoHopSeconds,
        await transfer(await socksConnect(socksPort2, sink.port), bytes),
      )
      const spent = relays.map((r, i) => cpuSeconds(r.child.pid!) - relaysBefore[i]!)
      const after = await Promise.all(relays.map(r => tunnelsFrom(r.info.status, proxy2.info.peerId)))
      const first = after[0]! > tunnels[0]! ? 0 : 1
      cpu.firstHop += spent[first]!
      cpu.secondHop += spent[1 - first]!
      cpu.proxy2 += cpuSeconds(proxy2.child.pid!) - proxy2Before
    }
    const gigabytes = (rounds * bytes) / 1e9

    const raw = bytes / rawSeconds / 1e6
    const forwarded = bytes / forwardedSeconds / 1e6
    const tunnel = bytes / tunnelSeconds / 1e6
    const twoHop = bytes / twoHopSeconds / 1e6
    const perGB = (seconds: number) => round(seconds / gigabytes, 2)
    const result = {
      bench: 'tunnel',
      bytes,
      rawTcpMBps: round(raw),
      forwardedTcpMBps: round(forwarded),
      tunnelMBps: round(tunnel),
      twoHopMBps: round(twoHop),
      ratio: round(tunnel / raw, 3),
      twoHopRatio: round(twoHop / raw, 3),
      forwardedRatio: round(forwarded / raw, 3),
      rounds,
      relayCpuSecondsPerGB: perGB(cpu.relay),
      proxyCpuSecondsPerGB: perGB(cpu.proxy),
      twoHopFirstRelayCpuSecondsPerGB: perGB(cpu.firstHop),
      twoHopSecondRelayCpuSecondsPerGB: perGB(cpu.secondHop),
      twoHopProxyCpuSecondsPerGB: perGB(cpu.proxy2),
      clientAndSinkCpuSecondsPerGB: perGB(cpu.bench),
      loadAverage: round(loadavg()[0]!, 1),
      cores: cpus().length,
    }
    console.log(`raw TCP on loopback        ${raw.toFixed(0)} MB/s`)
    console.log(
      `TCP via two Node pipes     ${forwarded.toFixed(0)} MB/s  (${result.forwardedRatio}× raw TCP)`,
    )
    console.log(`proxy → relay → sink       ${tunnel.toFixed(0)} MB/s  (${result.ratio}× raw TCP)`)
    console.log(`proxy → A → B → sink       ${twoHop.toFixed(0)} MB/s  (${result.twoHopRatio}× raw TCP)`)
    console.log(
      `relay CPU, 1 hop           ${result.relayCpuSecondsPerGB} s per GB (proxy ${result.proxyCpuSecondsPerGB})`,
    )
    console.log(
      `relay CPU, 2 hops          A ${result.twoHopFirstRelayCpuSecondsPerGB}, B ${result.twoHopSecondRelayCpuSecondsPerGB} s per GB (proxy ${result.twoHopProxyCpuSecondsPerGB})`,
    )
    console.log(JSON.stringify(result))
  } finally {
    for (const child of children) child.kill('SIGKILL')
    sink.server.close()
    rmSync(work, { recursive: true, force: true })
  }
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits))

function weir(args: string[]): void {
  const result = spawnSync(process.execPath, [...WEIR, ...args], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`weir ${args[0]}: ${result.stderr}`)
}

/** Starts `node ...command ...args` and waits for its first stdout line, a JSON object. */
async function start(
  args: string[],
  children: ChildProcess[],
  command = WEIR,
  // biome-ignore lint/suspicious/noExplicitAny: the first stdout line of a weir command is free-form JSON
): Promise<{ child: ChildProcess; info: any }> {
  const child = spawn(process.execPath, [...command, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', code => reject(new Error(`weir ${args[0]} exited with ${code}`)))
  })
  return { child, info: JSON.parse(line) }
}

/** Tunnels a relay has opened for `peer` since it started, from its status listener. */
async function tunnelsFrom(status: string, peer: string): Promise<number> {
  const body = (await (await fetch(`http://${status}/status`)).json()) as {
    peers: Record<string, { tunnels: number }>
  }
  return body.peers[peer]?.tunnels ?? 0
}

/** user + system CPU time of a process, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Counts what it receives and, at the end, answers with the count. */
async function startSink() {
  const server = createServer({ allowHalfOpen: true }, socket => {
    let received = 0
    socket.on('data', d => {
      received += d.length
    })
    socket.on('end', () => socket.end(String(received)))
    socket.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

/** Sends `bytes`, half-closes, and waits for the sink's count; returns the seconds it took. */
async function transfer(socket: Socket, bytes: number): Promise<number> {
  const started = performance.now()
  let sent = 0
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    const pump = () => {
      while (sent < bytes) {
        const chunk = bytes - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, bytes - sent)
        sent += chunk.length
        if (!socket.write(chunk)) return void socket.once('drain', pump)
      }
      socket.end()
      resolve()
    }
    pump()
  })
  let reply = ''
  for await (const chunk of socket) reply += chunk
  if (Number(reply) !== bytes) throw new Error(`sink received ${reply} of ${bytes} bytes`)
  return (performance.now() - started) / 1000
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Opens a SOCKS5 CONNECT to 127.0.0.1:port and returns the socket once the proxy says it succeeded. */
async function socksConnect(proxyPort: number, port: number): Promise<Socket> {
  const socket = await tcpConnect(proxyPort)
  const read = (n: number) =>
    new Promise<Buffer>(resolve => {
      let buffered = Buffer.alloc(0)
      const onData = (d: Buffer) => {
        buffered = Buffer.concat([buffered, d])
        if (buffered.length < n) return
        socket.off('data', onData)
        socket.pause()
        resolve(buffered)
      }
      socket.on('data', onData)
      socket.resume()
    })
  socket.write(Uint8Array.of(5, 1, 0))
  await read(2)
  socket.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff))
  const reply = await read(10)
  if (reply[1] !== 0) throw new Error(`SOCKS5 reply ${reply[1]}`)
  return socket
}
