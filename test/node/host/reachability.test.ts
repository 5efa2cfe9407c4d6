import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { Logger } from '../../../node/host/log.ts'
import {
  addressesToAnnounce,
  type HeldAddress,
  isDialableAddress,
  isPunchableAddress,
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

describe('reachability: hole punching', () => {
  const B = '/ip4/11.0.0.2/tcp/4001/p2p/12D3KooWCyEAZctECMqG1gx6aMZ28a2DXRPX4VMhb5PCDAs3YTJh'
  const PUNCHABLE = multiaddr(`${B}/p2p-circuit/webrtc`)
  const punch = (punching: Parameters<typeof judgeReachability>[1]['punching']) =>
    judgeReachability([LOOPBACK, LAN], { local: false, portMapping: true, checking: () => false, punching })

  it('counts only WebRTC addresses behind a dialable circuit-relay hop as punchable', () => {
    assert.equal(isPunchableAddress(PUNCHABLE), true)
    assert.equal(
      isPunchableAddress(multiaddr(`${PUNCHABLE}/p2p/12D3KooWA1YSJt34HTD1i3LcRHTtKAESw5fUGLQhYEsdSMDAfYu2`)),
      true,
    )
    for (const no of [
      `${B}/p2p-circuit`,
      '/ip4/192.168.1.1/tcp/4001/p2p/12D3KooWCyEAZctECMqG1gx6aMZ28a2DXRPX4VMhb5PCDAs3YTJh/p2p-circuit/webrtc',
      '/ip4/11.0.0.2/tcp/4001',
      '/webrtc',
    ])
      assert.equal(isPunchableAddress(multiaddr(no)), false, no)
  })

  it('announces direct addresses when it has any, punchable ones only behind a NAT that keeps its ports', () => {
    const direct = multiaddr('/ip4/11.0.0.9/tcp/4001')
    assert.deepEqual(addressesToAnnounce([LAN.multiaddr, direct, PUNCHABLE], true), [direct])
    assert.deepEqual(addressesToAnnounce([LAN.multiaddr, PUNCHABLE], true), [PUNCHABLE])
    assert.deepEqual(addressesToAnnounce([LAN.multiaddr, PUNCHABLE], false), [])
  })

  it('is hole-punching behind an endpoint-independent NAT once a relay signals for it', () => {
    const r = punch({
      mapping: { kind: 'endpoint-independent', mapped: '52.0.0.2:4001' },
      punchable: [PUNCHABLE],
    })
    assert.equal(r.state, 'hole-punching')
    assert.equal(r.remedy, undefined)
    assert.deepEqual(r.addresses, [PUNCHABLE.toString()])
    assert.match(
      r.reason,
      /STUN saw 52\.0\.0\.2:4001\): peers punch through it over WebRTC, signalled through 11\.0\.0\.2:4001/,
    )
  })

  it('is unreachable, with the remedy, behind a symmetric NAT or when STUN does not answer', () => {
    const symmetric = punch({
      mapping: { kind: 'endpoint-dependent', mapped: ['53.0.0.2:1', '53.0.0.2:2'] },
      punchable: [PUNCHABLE],
    })
    assert.equal(symmetric.state, 'unreachable')
    assert.match(symmetric.reason, /a symmetric NAT: STUN servers saw 53\.0\.0\.2:1 and 53\.0\.0\.2:2/)
    assert.match(symmetric.remedy ?? '', /enable UPnP IGD/)
    assert.deepEqual(symmetric.addresses, [])
    const silent = punch({
      mapping: { kind: 'unknown', reason: '0 of 2 STUN servers answered (2 are needed)' },
      punchable: [],
    })
    assert.equal(silent.state, 'unreachable')
    assert.match(silent.reason, /hole punching was not tried: 0 of 2 STUN servers answered/)
  })

  it('waits, without a remedy, while STUN has not answered or no relay signals for it yet', () => {
    const asking = punch({ punchable: [PUNCHABLE] })
    assert.equal(asking.state, 'unreachable')
    assert.match(asking.reason, /asking STUN servers/)
    assert.equal(asking.remedy, undefined)
    const waiting = punch({
      mapping: { kind: 'endpoint-independent', mapped: '52.0.0.2:4001' },
      punchable: [],
    })
    assert.match(waiting.reason, /waiting for a public relay to relay hole-punch signalling/)
    assert.equal(waiting.remedy, undefined)
    assert.deepEqual(waiting.addresses, [])
  })
})
