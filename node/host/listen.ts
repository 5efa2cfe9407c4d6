import type { Server } from 'node:net'

/** Starts `server` listening on host:port (0 for any free port); resolves with the address it bound. */
export async function listenTcp(
  server: Server,
  host: string,
  port: number,
): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address()
  if (bound === null || typeof bound === 'string')
    throw new Error(`${host}:${port}: the server has no TCP address`)
  return { host: bound.address, port: bound.port }
}
