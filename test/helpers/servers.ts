import { createServer, type Server, type Socket } from 'node:net'

/** Writes `chunk` to a connected socket as fast as it drains, until the peer goes: a source that never ends. */
export function pumpForever(socket: Socket, chunk: Uint8Array): void {
  socket.on('error', () => {})
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk)) {}
  }
  socket.on('drain', pump)
  pump()
}

/** A TCP server (not yet listening) that sends every client endless 64 KiB chunks. */
export function endlessSource(): Server {
  const chunk = Buffer.alloc(64 * 1024, 7)
  return createServer(socket => pumpForever(socket, chunk))
}
