import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { bindingRequest, mappedAddress, natMapping, parseStunServer } from '../../../node/host/nat-mapping.ts'
import { startStunServer } from '../../../simulations/internet/stun-server.ts'
import { requireSystem } from '../../helpers/requires.ts'

// RFC 5769 §2.2: a Binding success response (IPv4) whose XOR-MAPPED-ADDRESS is 192.0.2.1:32853, with
// SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT attributes around it.
const RFC5769_TRANSACTION = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex')
const RFC5769_RESPONSE = Buffer.from(
  '0101003c2112a442b7e7a701bc34d686fa87dfae' +
    '8022000b7465737420766563746f7220' +
    '002000080001a147e112a643' +
    '000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7' +
    '80280004c07d4c96',
  'hex',
)

describe('NAT mapping behaviour (STUN Binding, RFC 8489 / 5780)', () => {
  it('reads the mapped address of the RFC 5769 response vector', () => {
    assert.equal(mappedAddress(RFC5769_RESPONSE, RFC5769_TRANSACTION), '192.0.2.1:32853')
  })

  it('ignores a response to another transaction, a request, and truncated or garbled bytes', () => {
    const other = Buffer.from(RFC5769_TRANSACTION)
    other.writeUInt8(other.readUInt8(0) ^ 1, 0)
    assert.equal(mappedAddress(RFC5769_RESPONSE, other), undefined)
    assert.equal(mappedAddress(bindingRequest(RFC5769_TRANSACTION), RFC5769_TRANSACTION), undefined)
    for (let cut = 0; cut < RFC5769_RESPONSE.length; cut += 7) {
      const answer = mappedAddress(RFC5769_RESPONSE.subarray(0, cut), RFC5769_TRANSACTION)
      assert.ok(answer === undefined || answer === '192.0.2.1:32853')
    }
    const lying = Buffer.from(RFC5769_RESPONSE)
    lying.writeUInt16BE(0xfff0, 2) // a length past the end
    assert.equal(mappedAddress(lying, RFC5769_TRANSACTION), '192.0.2.1:32853')
  })

  it('writes a 20-byte Binding request with the magic cookie and the transaction', () => {
    assert.equal(
      bindingRequest(RFC5769_TRANSACTION).toString('hex'),
      '000100002112a442b7e7a701bc34d686fa87dfae',
    )
  })

  it('takes host:port servers (an ICE stun: prefix too) and names what it expected otherwise', () => {
    assert.deepEqual(parseStunServer('stun.l.google.com:19302'), { host: 'stun.l.google.com', port: 19302 })
    assert.deepEqual(parseStunServer('stun:[::1]:3478'), { host: '::1', port: 3478 })
    for (const bad of ['stun.l.google.com', 'host:0', 'host:70000', ':3478', 'a b:1'])
      assert.throws(() => parseStunServer(bad), /a STUN server is host:port/)
  })

  describe('against real STUN servers (coturn) on loopback', function () {
    this.timeout(20_000)
    const servers: ChildProcess[] = []

    before(async function () {
      requireSystem(this, { commands: ['turnserver'] }, 'runs coturn as STUN servers')
      for (const ip of ['127.0.0.5', '127.0.0.6'])
        servers.push(await startStunServer(ip, (c, a) => spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] })))
    })

    after(() => {
      for (const s of servers) s.kill()
    })

    it('finds one outside address for every destination where nothing translates', async () => {
      const m = await natMapping(['127.0.0.5:3478', '127.0.0.6:3478'])
      assert.equal(m.kind, 'endpoint-independent')
      assert.match(m.kind === 'endpoint-independent' ? m.mapped : '', /^127\.0\.0\.1:\d+$/)
    })

    it('says it does not know when fewer than two servers answer', async () => {
      const m = await natMapping(['127.0.0.5:3478', '127.0.0.7:3478'], 600)
      assert.deepEqual(m, { kind: 'unknown', reason: '1 of 2 STUN servers answered (2 are needed)' })
    })
  })
})
