import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

const ROOT = new URL('../../', import.meta.url).pathname

/**
 * Where relay i of a test listens: a loopback address of its own (127.0.1.i+1), since a witness probes
 * the identities reached at one address together, as one machine (docs/witness.md, co-location).
 */
export const relayListen = (i: number): string => `/ip4/127.0.1.${i + 1}/tcp/0`

/** Child processes of a test file, each resolved once it printed its JSON ready line; kill them in `after`. */
export class Children {
  private readonly children = new Set<ChildProcess>()
  /** the tail of each child's stderr (logs, failure messages) */
  readonly stderr = new Map<string, string>()

  /** Starts `node <args>` from the repository root. */
  async start<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    let stderr = ''
    child.stderr?.on('data', d => {
      stderr = (stderr + d).slice(-200_000)
      this.stderr.set(args.join(' '), stderr)
    })
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve)
      child.once('exit', code =>
        reject(new Error(`${args.join(' ')} exited with ${code}: ${stderr.slice(-4000)}`)),
      )
    })
    return JSON.parse(first) as T
  }

  weir<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
    return this.start<T>([...nodeArgs(WEIR_ENTRY), ...args], env)
  }

  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL')
  }
}
