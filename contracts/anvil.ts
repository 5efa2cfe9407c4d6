import { createRequire } from 'node:module'
// A local Anvil chain for tests, benchmarks and the demo testnet. Anvil runs in its own process group so stop()
// (and this process exiting or being interrupted) ends both the npm wrapper and the binary it spawns.
// @foundry-rs/anvil is a development dependency: relays, witnesses and ledgers never start a chain.
import { type ChildProcess, spawn } from 'node:child_process'
import { setPriority } from 'node:os'
import { type Address, type Hex, toHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

/** Anvil's default development mnemonic: its accounts are public knowledge, for local chains only. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

export interface Anvil {
  rpcUrl: string
  chainId: number
  accounts: Address[]
  privateKeys: Hex[]
  stop(): Promise<void>
}

export interface AnvilOptions {
  accounts?: number
  chainId?: number
  startupTimeoutMs?: number
  /** Record opcode steps so debug_traceTransaction returns geth-style structLogs (slower; for gas analysis). */
  stepsTracing?: boolean
  /** Lower CPU priority (a niceness above 0), so that Anvil yields the CPU to what a run measures. */
  niceness?: number
}

const running = new Set<ChildProcess>()

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

function killAllOnExit(): void {
  for (const child of running) killGroup(child, 'SIGKILL')
}

// Registered first (prependListener), so that it sees every other handler of the signal, `once` ones
// included, before they remove themselves: a process that handles the signal shuts down in its own way
// and the exit hook stops Anvil; only one that does not is killed by the signal, Anvil first.
function killAllOnSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return
  killAllOnExit()
  process.off('SIGINT', killAllOnSignal)
  process.off('SIGTERM', killAllOnSignal)
  process.kill(process.pid, signal)
}

function track(child: ChildProcess): void {
  if (running.size === 0) {
    process.on('exit', killAllOnExit)
    process.prependListener('SIGINT', killAllOnSignal)
    process.prependListener('SIGTERM', killAllOnSignal)
  }
  running.add(child)
}

function untrack(child: ChildProcess): void {
  running.delete(child)
  if (running.size === 0) {
    process.off('exit', killAllOnExit)
    process.off('SIGINT', killAllOnSignal)
    process.off('SIGTERM', killAllOnSignal)
  }
}

/** The deterministic development keys Anvil funds with 10,000 ETH each. */
export function anvilKeys(count: number): { accounts: Address[]; privateKeys: Hex[] } {
  const accounts: Address[] = []
  const privateKeys: Hex[] = []
  for (let i = 0; i < count; i++) {
    const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
    accounts.push(account.address)
    privateKeys.push(toHex(account.getHdKey().privateKey as Uint8Array))
  }
  return { accounts, privateKeys }
}

/** The npm package's launcher script, which runs the Anvil binary for this platform. */
function anvilLauncher(): string {
  try {
    return createRequire(import.meta.url).resolve('@foundry-rs/anvil/bin.mjs')
  } catch {
    throw new Error(
      'Anvil is not installed: @foundry-rs/anvil is a development dependency, so a local chain ' +
        '(weir testnet, the tests, the benchmarks) needs a clone with `npm ci` (development dependencies included)',
    )
  }
}

/** Starts Anvil on 127.0.0.1 on a port the OS picks; resolves once it is listening. */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const count = options.accounts ?? 10
  const chainId = options.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', '0', '--accounts', String(count)]
  args.push('--mnemonic', ANVIL_MNEMONIC, '--chain-id', String(chainId))
  if (options.stepsTracing) args.push('--steps-tracing')
  const launcher = anvilLauncher()
  const child = spawn(process.execPath, [launcher, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  track(child)
  // Set at once, the npm launcher has it before it starts the binary, which inherits it.
  if (options.niceness && child.pid !== undefined) {
    try {
      setPriority(child.pid, options.niceness)
    } catch {
      // already exited: reported below as not listening
    }
  }
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  exited.then(() => untrack(child))

  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4096)
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output)
      if (match) settle(() => resolve(Number(match[1])))
    }
    const onError = (err: Error) => fail(err.message)
    const onExit = (code: number | null) => fail(`exited with code ${code} before listening`)
    const timer = setTimeout(
      () => fail('did not start listening in time'),
      options.startupTimeoutMs ?? 20_000,
    )
    const fail = (why: string) =>
      settle(() => {
        killGroup(child, 'SIGKILL')
        reject(new Error(`anvil (${launcher}): ${why}\n${output.trim()}`))
      })
    const settle = (then: () => void) => {
      clearTimeout(timer)
      child.off('error', onError)
      child.off('exit', onExit)
      // Anvil logs every RPC call; keep draining so its pipe never fills.
      child.stdout?.off('data', onData).resume()
      child.stderr?.off('data', onData).resume()
      then()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', onError)
    child.once('exit', onExit)
  })

  const stop = async () => {
    killGroup(child, 'SIGTERM')
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000)
    await exited
    clearTimeout(timer)
  }
  return { rpcUrl: `http://127.0.0.1:${port}`, chainId, ...anvilKeys(count), stop }
}
