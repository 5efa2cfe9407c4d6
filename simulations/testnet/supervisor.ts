import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const WEIR_BIN = new URL('../../bin/weir.js', import.meta.url).pathname

/** node's arguments to run a module of this package: TypeScript through tsx, compiled JavaScript as is. */
const runModule = (path: string) =>
  path.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), path] : [path]

export interface RoleProcess {
  name: string
  child: ChildProcess
  /** the JSON object the role printed as its first stdout line once it was ready */
  ready: Record<string, unknown>
  log: string
}

/**
 * Starts and stops the role processes of a local network. Every role prints one JSON line on stdout
 * when it is ready (its PeerId, addresses, bound ports); everything else goes to a log file per process.
 */
export class Supervisor {
  readonly processes: RoleProcess[] = []
  private stopping = false

  constructor(readonly logDir: string) {}

  /**
   * Runs `weir <args>` (or the entry `module` with `args`) and resolves once it has printed its ready
   * line. A `niceness` above 0 lowers the process's CPU priority, for roles whose timing nothing measures.
   */
  async start(
    name: string,
    args: string[],
    options: { env?: Record<string, string>; timeoutMs?: number; niceness?: number; module?: string } = {},
  ): Promise<RoleProcess> {
    const timeoutMs = options.timeoutMs ?? 60_000
    const log = join(this.logDir, `${name}.log`)
    const out = createWriteStream(log)
    const entry = options.module ? runModule(options.module) : [WEIR_BIN]
    const child = spawn(process.execPath, [...entry, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (options.niceness && child.pid !== undefined) {
      try {
        setPriority(child.pid, options.niceness)
      } catch {
        // already exited: reported below as not ready
      }
    }
    child.stderr?.pipe(out, { end: false })
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} was not ready after ${timeoutMs} ms (see ${log})`)),
        timeoutMs,
      )
      child.once('exit', code => {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${code} before it was ready (see ${log})`))
      })
      lines.on('line', line => {
        out.write(`${line}\n`)
        try {
          const parsed = JSON.parse(line)
          clearTimeout(timer)
          resolve(parsed)
        } catch {}
      })
    }).catch(err => {
      child.kill('SIGKILL')
      throw err
    })
    const role = { name, child, ready, log }
    child.once('exit', (code, signal) => {
      out.write(`\n[supervisor] ${name} exited (${code ?? signal})\n`)
      out.end()
      if (!this.stopping && code !== 0)
        process.stderr.write(`[testnet] ${name} stopped unexpectedly (${code ?? signal}); see ${log}\n`)
    })
    this.processes.push(role)
    return role
  }

  /** SIGTERM every process (roles shut down gracefully), then SIGKILL what is left after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.stopping = true
    const alive = this.processes.filter(p => p.child.exitCode === null && p.child.signalCode === null)
    await Promise.all(
      alive.map(
        p =>
          new Promise<void>(resolve => {
            const timer = setTimeout(() => {
              p.child.kill('SIGKILL')
            }, graceMs)
            p.child.once('exit', () => {
              clearTimeout(timer)
              resolve()
            })
            p.child.kill('SIGTERM')
          }),
      ),
    )
  }
}
