import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { Logger } from '../../../node/host/log.ts'
import {
  type HeldAddress,
  isDialableAddress,
  judgeReachability,
  logReachability,
  type ReachabilityService,
} from '../../../node/host/reachability.ts'

// How a node judges its reachability from the addresses libp2p holds: pure logic, fed by hand. The
// emulated Internet (test/reach/reachability.test.ts) shows it on real NATs.

const held = (address: string, type: HeldAddress['type'], verified: boolean): HeldAddress => ({
  multiaddr: multiaddr(address),
  type,
  verified,
})
const LOOPBACK = held('/ip4/127.0.0.1/tcp/4001', 'transport', true)
const LAN = held('/ip4/192.168.1.5/tcp/4001', 'transport', true)
const judge = (
  addresses: HeldAddress[],
  o: { portMapping?: boolean; checking?: boolean; local?: boolean } = {},
) =>
  judgeReachability(addresses, {
    local: o.local ?? false,
    portMapping: o.portMapping ?? true,
    checking: () => o.checking ?? false,
  })

describe('reachability: judged from the addresses libp2p holds', () => {
  it('counts loopback, private, reserved and relayed addresses as not dialable from the Internet', () => {
    const no = ['/ip4/127.0.0.1/tcp/1', '/ip4/10.1.2.3/tcp/1', '/ip4/100.64.0.1/tcp/1', '/ip6/::1/tcp/1']
    for (const a of no) assert.equal(isDialableAddress(multiaddr(a)), false, a)
    assert.equal(isDialableAddress(multiaddr('/ip4/11.0.0.2/tcp/4001/p2p-circuit')), false)
    for (const a of ['/ip4/11.0.0.2/tcp/4001', '/dns4/relay.example/tcp/4001'])
      assert.equal(isDialableAddress(multiaddr(a)), true, a)
  })

  it('on a local network, is local and announces every verified address', () => {
    const r = judge([LOOPBACK, LAN], { local: true })
    assert.equal(r.state, 'local')
    assert.deepEqual(r.addresses, ['/ip4/127.0.0.1/tcp/4001', '/ip4/192.168.1.5/tcp/4001'])
  })

  it('is public at an announced address, or at a public address AutoNAT confirmed, and announces only those', () => {
    const announced = judge([held('/ip4/11.0.0.2/tcp/4001', 'announce', true)])
    assert.deepEqual([announced.state, announced.addresses], ['public', ['/ip4/11.0.0.2/tcp/4001']])
    const confirmed = judge([LOOPBACK, held('/ip4/12.0.0.2/tcp/4001', 'transport', true)])
    assert.deepEqual([confirmed.state, confirmed.addresses], ['public', ['/ip4/12.0.0.2/tcp/4001']])
    assert.match(confirmed.reason, /AutoNAT/)
  })

  it('is port-mapped once AutoNAT dialled the mapped port back, and says it waits until then', () => {
    const mapped = (verified: boolean) => [
      LOOPBACK,
      LAN,
      held('/ip4/51.0.0.2/tcp/4001', 'ip-mapping', verified),
    ]
    const r = judge(mapped(true))
    assert.deepEqual([r.state, r.addresses], ['port-mapped', ['/ip4/51.0.0.2/tcp/4001']])
    assert.match(r.reason, /51\.0\.0\.2:4001/)
    const waiting = judge(mapped(false), { checking: true })
    assert.deepEqual([waiting.state, waiting.addresses, waiting.remedy], ['unreachable', [], undefined])
    assert.match(waiting.reason, /dialling it back/)
    const failed = judge(mapped(false))
    assert.match(failed.reason, /could not dial it/)
    assert.match(failed.remedy ?? '', /firewall/)
  })

  it('behind a NAT with no mapping, is unreachable and says what to do, naming port mapping when it is off', () => {
    const observed = held('/ip4/51.0.0.3/tcp/40123', 'observed', false)
    const on = judge([LOOPBACK, LAN, observed])
    assert.equal(on.state, 'unreachable')
    assert.match(on.reason, /behind a NAT \(it listens on 192\.168\.1\.5:4001\) and no router mapped a port/)
    assert.match(on.remedy ?? '', /enable UPnP IGD on the router, or forward TCP port 4001/)
    const off = judge([LOOPBACK, LAN], { portMapping: false })
    assert.match(off.reason, /port mapping is off/)
    assert.match(off.remedy ?? '', /drop --no-port-mapping/)
  })

  it('listening only on loopback, or nowhere, says to listen on every interface', () => {
    assert.match(judge([LOOPBACK]).reason, /only on loopback/)
    assert.match(judge([]).reason, /listens nowhere/)
    assert.match(judge([LOOPBACK]).remedy ?? '', /--listen \/ip4\/0\.0\.0\.0\/tcp\/4001/)
  })

  it('logs at start and on every change; unreachable with a remedy as a problem, once', () => {
    const lines: { level: string; msg: string; remedy?: string }[] = []
    const log = new Logger({ role: 'relay', format: 'json', write: l => lines.push(JSON.parse(l)) })
    let listener: ((r: ReturnType<typeof judge>) => void) | undefined
    const service = {
      current: () => judge([LOOPBACK, LAN]),
      onChange: (f: typeof listener) => {
        listener = f
        return () => {}
      },
    } as unknown as ReachabilityService
    logReachability(service, log)
    listener?.(
      judge([LOOPBACK, LAN, held('/ip4/51.0.0.2/tcp/4001', 'ip-mapping', false)], { checking: true }),
    )
    listener?.(judge([LOOPBACK, LAN, held('/ip4/51.0.0.2/tcp/4001', 'ip-mapping', true)]))
    assert.deepEqual(
      lines.map(l => [l.level, l.msg.replace(/: .*/, ''), l.remedy !== undefined]),
      [
        ['warn', 'reachability', true],
        ['info', 'reachability', false],
        ['info', 'reachability', false],
      ],
    )
    assert.match(lines[2]?.msg ?? '', /^reachability: port-mapped: /)
  })
})
