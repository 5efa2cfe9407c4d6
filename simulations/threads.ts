import { extname } from 'node:path'
import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * A worker thread running the module `name` beside `from` (the caller's import.meta.url), in the caller's
 * form: compiled JavaScript from dist/, or the TypeScript source under tsx (tests, development). A worker
 * starts without the parent's tsx loader, so for a source it first registers tsx (by absolute URL, so it
 * works from any working directory), then imports the module.
 */
export function moduleWorker(name: string, from: string, options: WorkerOptions = {}): Worker {
  const module = new URL(`${name}${extname(from)}`, from)
  if (!module.pathname.endsWith('.ts')) return new Worker(module, options)
  const tsx = import.meta.resolve('tsx/esm/api')
  const boot = `import(${JSON.stringify(tsx)}).then(m => { m.register(); return import(${JSON.stringify(module.href)}) })`
  return new Worker(boot, { ...options, eval: true })
}
