import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net'
import { parseAuthority, startHttpConnectServer } from '../../../node/proxy/http-connect.ts'
import { type SocksConnect, SocksReply, type SocksTarget, type Traffic } from '../../../node/proxy/socks5.ts'
import { waitFor } from '../../helpers/wait.ts'

/** Opens a TCP connection to a loopback echo server for any target on port 7; refuses the rest as policy. */
function echoConnect(echoPort: number, seen: SocksTarget[], traffic: Traffic[]): SocksConnect {
  return async target => {
    seen.push(target)
    if (target.port !== 7)
      return { ok: false, reply: SocksReply.NotAllowed, reason: 'relay 1 answered policy' }
    const socket = netConnect(echoPort, '127.0.0.1')
    await once(socket, 'connect')
    return { ok: true, stream: socket, track: t => traffic.push(t) }
  }
}

/** Sends `text` on a fresh connection to the proxy and collects everything until it closes or `until` matches. */
async function exchange(
  port: number,
  text: string,
  until?: RegExp,
): Promise<{ socket: Socket; got: () => string }> {
  const socket = netConnect(port, '127.0.0.1')
  let got = ''
  socket.on('data', d => {
    got += d
  })
  socket.write(text)
  await waitFor(() => (until ? until.test(got) : socket.readableEnded), {
    what: `an answer to ${text.split('\r')[0]}`,
  })
  return { socket, got: () => got }
}

describe('the HTTP CONNECT listener', () => {
  let echo: Server
  let proxy: Awaited<ReturnType<typeof startHttpConnectServer>>
  const seen: SocksTarget[] = []
  const traffic: Traffic[] = []

  before(async () => {
    echo = createServer(socket => socket.pipe(socket))
    await new Promise<void>(resolve => echo.listen(0, '127.0.0.1', resolve))
    const echoPort = (echo.address() as { port: number }).port
    proxy = await startHttpConnectServer({ connect: echoConnect(echoPort, seen, traffic) })
  })

  after(async () => {
    await proxy?.close()
    echo?.close()
  })

  it('tunnels bytes both ways after 200, including those sent with the request', async () => {
    const { socket, got } = await exchange(
      proxy.address.port,
      'CONNECT example.test:7 HTTP/1.1\r\nHost: example.test:7\r\n\r\nearly ',
      /early $/,
    )
    assert.match(got(), /^HTTP\/1\.1 200 Connection Established\r\n\r\nearly $/)
    socket.write('late')
    await waitFor(() => got().endsWith('early late'), { what: 'the echo of the later bytes' })
    assert.deepEqual(seen.at(-1), { host: 'example.test', port: 7, addressType: 'domain' })
    const counts = traffic.at(-1)!
    assert.deepEqual([counts.up(), counts.down()], [10, 10])
    socket.destroy()
  })

  it('answers a refusal with its status and reason, and other methods with 405', async () => {
    const refused = await exchange(proxy.address.port, 'CONNECT 10.0.0.1:22 HTTP/1.1\r\n\r\n')
    assert.match(refused.got(), /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\nrelay 1 answered policy\n$/)
    const get = await exchange(
      proxy.address.port,
      'GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n',
    )
    assert.match(get.got(), /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
    assert.match(get.got(), /allow: CONNECT/i)
    assert.match(get.got(), /CONNECT only/)
    const bad = await exchange(proxy.address.port, 'CONNECT no-port HTTP/1.1\r\n\r\n')
    assert.match(bad.got(), /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*expects host:port/)
  })

  it('reads authority-form targets strictly', () => {
    assert.deepEqual(parseAuthority('[::1]:443'), { host: '::1', port: 443, addressType: 'ipv6' })
    assert.deepEqual(parseAuthority('10.1.2.3:80'), { host: '10.1.2.3', port: 80, addressType: 'ipv4' })
    for (const bad of ['::1:443', 'host:0', 'host:65536', '[example.test]:80', 'a b:80', 'host', ':80'])
      assert.equal(parseAuthority(bad), undefined, bad)
  })
})
