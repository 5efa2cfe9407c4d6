// Linux network namespaces driven through `ip` and `nft` (iproute2, nftables): the parts the emulated
// Internet is built from. Everything here needs root.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Runs a command, failing with its stderr (not just the exit code) so a broken step says why. */
export async function sh(
  command: string,
  args: string[],
  input?: string,
  timeoutMs = 20_000,
): Promise<string> {
  const child = run(command, args, { encoding: 'utf8', timeout: timeoutMs })
  if (input !== undefined) {
    child.child.stdin?.end(input)
  }
  try {
    return (await child).stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`)
  }
}

/** One network namespace: its name, and commands run inside it. */
export class Namespace {
  private readonly children = new Set<ChildProcess>()

  constructor(readonly name: string) {}

  static async create(name: string): Promise<Namespace> {
    await sh('ip', ['netns', 'add', name])
    const ns = new Namespace(name)
    await ns.ip('link', 'set', 'lo', 'up')
    return ns
  }

  ip(...args: string[]): Promise<string> {
    return sh('ip', ['-n', this.name, ...args])
  }

  exec(command: string, args: string[], input?: string, timeoutMs?: number): Promise<string> {
    return sh('ip', ['netns', 'exec', this.name, command, ...args], input, timeoutMs)
  }

  /** Loads an nftables ruleset into this namespace. */
  nft(ruleset: string): Promise<string> {
    return this.exec('nft', ['-f', '-'], ruleset)
  }

  sysctl(key: string, value: string): Promise<string> {
    return this.exec('sysctl', ['-qw', `${key}=${value}`])
  }

  /** Starts a long-running process inside the namespace; destroy() kills it. */
  spawn(command: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  /** Kills what runs in it and removes it (and with it every interface it holds). */
  async destroy(): Promise<void> {
    const exits = [...this.children].map(
      child =>
        new Promise<void>(resolve =>
          child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
        ),
    )
    for (const child of this.children) child.kill('SIGKILL')
    await Promise.all(exits)
    const pids = await sh('ip', ['netns', 'pids', this.name]).catch(() => '')
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    await sh('ip', ['netns', 'del', this.name]).catch(() => {})
  }
}

/**
 * The temporary names of this process's veth ends (`<prefix>a<n>`, `<prefix>b<n>`): other processes
 * building fixtures at the same time have ends of their own in the machine's namespace for a moment.
 */
export const VETH_PREFIX = `wv${process.pid % 100_000}`

/** Joins two namespaces with a veth pair, naming each end inside its namespace. */
export async function link(a: Namespace, aName: string, b: Namespace, bName: string): Promise<void> {
  // created under temporary names in the caller's namespace: interface names are per namespace, and the
  // final names repeat across namespaces
  const tmpA = `${VETH_PREFIX}a${linkCount}`
  const tmpB = `${VETH_PREFIX}b${linkCount++}`
  await sh('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB])
  await sh('ip', ['link', 'set', tmpA, 'netns', a.name, 'name', aName])
  await sh('ip', ['link', 'set', tmpB, 'netns', b.name, 'name', bName])
  await a.ip('link', 'set', aName, 'up')
  await b.ip('link', 'set', bName, 'up')
}
let linkCount = 0

/** The namespaces `ip netns` lists whose names start with `prefix`. */
export async function namespacesNamed(prefix: string): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list'])
  return out
    .split('\n')
    .map(line => line.split(' ')[0] ?? '')
    .filter(name => name.startsWith(prefix))
}
