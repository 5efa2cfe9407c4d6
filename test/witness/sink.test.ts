import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { newProbeSecret } from '../../witness/payload.ts'
import {
  ACK,
  encodeAck,
  encodeHello,
  HELLO_HEADER_BYTES,
  ProbeSink,
  sharedAddress,
} from '../../witness/sink.ts'

const ROOT = new URL('../../', import.meta.url).pathname

/** Everything the sink sends on `socket` until it closes it. */
function received(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  socket.on('data', c => chunks.push(c))
  return new Promise(resolve => socket.once('close', () => resolve(Buffer.concat(chunks))))
}

describe('probe sink: padded hellos and where it may listen', function () {
  this.timeout(60_000)

  it('pads hellos and acks to random sizes', () => {
    const { id } = newProbeSecret()
    const sizes = (encode: () => Uint8Array) => new Set(Array.from({ length: 50 }, () => encode().length))
    assert.ok(sizes(() => encodeHello(id, 'forward')).size > 1)
    assert.ok(sizes(() => encodeAck()).size > 1)
    assert.equal(encodeHello(id, 'reverse', 1, 0).length, HELLO_HEADER_BYTES)
  })

  it('acknowledges a padded hello, and drops one whose padding is not zeros', async () => {
    const sink = await ProbeSink.listen()
    try {
      const { id, key } = newProbeSecret()
      const probe = sink.register(id, key, 1, 2)
      const good = connect({ port: sink.port, host: sink.host })
      const answer = received(good)
      // the hello split in two, its padding in the second part
      const hello = encodeHello(id, 'forward', 0, 40)
      good.write(hello.subarray(0, HELLO_HEADER_BYTES + 3))
      setTimeout(() => good.write(hello.subarray(HELLO_HEADER_BYTES + 3)), 50)
      setTimeout(() => probe.release(), 500)
      const ack = await answer
      assert.equal(ack[0], ACK)
      assert.equal(ack.length, 2 + (ack[1] as number))
      const bad = connect({ port: sink.port, host: sink.host })
      const refused = received(bad)
      const dirty = encodeHello(id, 'forward', 1, 3)
      dirty[HELLO_HEADER_BYTES + 1] = 7
      bad.write(dirty)
      assert.equal((await refused).length, 0)
    } finally {
      await sink.close()
    }
  })

  it('finds a sink address the witness listens on (same IPv4, or same IPv6 /64)', () => {
    const listening = [multiaddr('/ip4/127.0.0.1/tcp/4001'), multiaddr('/ip6/2001:db8:1:2::7/tcp/4001/ws')]
    assert.equal(String(sharedAddress('127.0.0.1', listening)), '/ip4/127.0.0.1/tcp/4001')
    assert.equal(sharedAddress('127.0.0.2', listening), undefined)
    assert.equal(String(sharedAddress('2001:db8:1:2::99', listening)), '/ip6/2001:db8:1:2::7/tcp/4001/ws')
    assert.equal(sharedAddress('2001:db8:1:3::7', listening), undefined)
  })

  it('weir witness refuses a sink at its own listen address, naming --sink', async () => {
    const work = mkdtempSync(join(tmpdir(), 'weir-sink-'))
    try {
      const made = createLocalNetwork({
        out: join(work, 'net'),
        witnesses: 1,
        committee: 1,
        epochSeconds: 60,
        graceSeconds: 10,
        probeSeconds: 4,
        minAttestations: 1,
        eligibilityDelay: 0,
        emission: 1000n,
        chainId: 31337,
        genesis: 0,
      })
      const args = ['--dir', made.witnessDirs[0] as string, '--listen', '/ip4/127.0.0.1/tcp/0']
      const child = spawn(process.execPath, ['bin/weir.js', 'witness', ...args, '--sink', '127.0.0.1:0'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', d => {
        stderr += d
      })
      const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
      assert.equal(code, 2, stderr)
      assert.match(
        stderr,
        /--sink 127\.0\.0\.1 is where this witness listens \(\/ip4\/127\.0\.0\.1\/tcp\/\d+/,
      )
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})
