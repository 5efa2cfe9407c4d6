import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { nodeArgs, WEIR_ENTRY } from '../../simulations/testnet/supervisor.ts'

/** `weir` from the sources, under tsx */
const WEIR = nodeArgs(WEIR_ENTRY)

/** Child processes started by a test file; `killAll` in an after hook, whatever happened. */
export class Processes {
  private readonly children = new Set<ChildProcess>()

  /** Runs `weir …` to completion; throws with its stderr if it fails. */
  run(args: string[]): string {
    const result = spawnSync(process.execPath, [...WEIR, ...args], { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`weir ${args.join(' ')} failed: ${result.stderr}`)
    return result.stdout
  }

  /** Starts `weir …` and resolves with its first stdout line parsed as JSON. */
  async start<T>(args: string[]): Promise<{ child: ChildProcess; info: T; stderr: () => string }> {
    const child = spawn(process.execPath, [...WEIR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    let stderr = ''
    child.stderr?.on('data', d => {
      stderr += d
    })
    const lines = createInterface({ input: child.stdout! })
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve)
      child.once('exit', code => reject(new Error(`weir ${args[0]} exited with ${code}: ${stderr}`)))
    })
    return { child, info: JSON.parse(first) as T, stderr: () => stderr }
  }

  /** Starts any program (curl) and tracks it for cleanup. */
  spawn(command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL')
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise(resolve => child.once('exit', code => resolve(code)))
}
