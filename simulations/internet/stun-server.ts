// A STUN server (coturn, STUN only) that tells hosts the address their packets arrive from: the emulated
// Internet's stand-in for the public STUN servers hole punching asks.
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

export const STUN_PORT = 3478

/** Starts coturn on `ip`:3478 through `spawn` (a namespace's, or the machine's); resolves once it serves. */
export async function startStunServer(
  ip: string,
  spawn: (command: string, args: string[]) => ChildProcess,
): Promise<ChildProcess> {
  const child = spawn('turnserver', [
    '--stun-only',
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '-c',
    '/dev/null',
    '--log-file',
    'stdout',
    '--simple-log',
    '-L',
    ip,
    '-p',
    String(STUN_PORT),
  ])
  let log = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coturn on ${ip} did not start: ${log}`)), 10_000)
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', line => {
      log += `${line}\n`
      if (/Total General servers/.test(line)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`coturn on ${ip} exited with ${code}: ${log}`))
    })
  })
  return child
}
