import assert from 'node:assert/strict'
import { isIPv6 } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import {
  exitSummary,
  classifyAddress,
  defaultLookup,
  type ExitPolicy,
  formatIp,
  isForbiddenAddress,
  type Lookup,
  mayConnect,
  parseIp,
  resolveExit,
} from '../../../node/relay/exit-policy.ts'
import { ownAddresses } from '../../../node/relay/own-addresses.ts'

const strict: ExitPolicy = { allowPrivate: false }
const testnet: ExitPolicy = { allowPrivate: true }

/** A resolver for names under .test only; it fails the test if anything else reaches it. */
function fakeDns(table: Record<string, string[]>): Lookup & { asked: string[] } {
  const asked: string[] = []
  const lookup = async (name: string) => {
    asked.push(name)
    assert.ok(name.endsWith('.'), `${name} should be looked up as an absolute name`)
    const answers = table[name.slice(0, -1)]
    if (answers === undefined) throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
    return answers.map(address => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(lookup, { asked })
}

const noDns: Lookup = async name => assert.fail(`DNS must not be consulted for ${name}`)

function ip(text: string) {
  const parsed = parseIp(text)
  assert.ok(parsed, `${text} should parse`)
  return parsed
}

describe('exit policy', () => {
  it('is advertised as port ranges: by default all but SMTP, else the allow-list; both families', () => {
    assert.deepEqual(exitSummary({}), {
      ipv4: true,
      ipv6: true,
      ports: [
        [1, 24],
        [26, 65535],
      ],
    })
    assert.deepEqual(exitSummary({ ports: new Set([443, 80, 81, 82, 8080]) }), {
      ipv4: true,
      ipv6: true,
      ports: [
        [80, 82],
        [443, 443],
        [8080, 8080],
      ],
    })
    // an allow-list too scattered for a record: its lowest ranges only, never a port it refuses
    const scattered = exitSummary({ ports: new Set(Array.from({ length: 100 }, (_, i) => 2 * i + 1)) })
    assert.equal(scattered.ports.length, 64)
    assert.deepEqual(scattered.ports.at(-1), [127, 127])
  })

  describe('refuses every spelling of forbidden targets', () => {
    const spellings = [
      '127.0.0.1',
      'localhost',
      'localhost.',
      'LOCALHOST',
      'foo.localhost',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '[::ffff:127.0.0.1]',
      '::127.0.0.1',
      '0:0:0:0:0:0:0:1',
      '0.0.0.0',
      '0',
      '::',
      '2130706433',
      '0x7f000001',
      '0X7F000001',
      '0x7f.1',
      '0177.0.0.1',
      '0177.0.0.01',
      '0x7f.0.0.0x1',
      '127.1',
      '127.0.1',
      '127.0.0.1.',
      '10.0.0.1',
      '10.1',
      '012.1',
      '167772161',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '0xc0a80101',
      '169.254.169.254',
      '0xa9fea9fe',
      '2852039166',
      '::ffff:169.254.169.254',
      '100.100.100.200',
      '100.64.0.1',
      'fd00::1',
      'fd00:ec2::254',
      'fe80::1',
      'fe80::1%eth0',
      '[fe80::1%25eth0]',
      'fec0::1',
      'ff02::1',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.2.1',
      '198.51.100.7',
      '203.0.113.9',
      '2001:db8::1',
      '198.18.0.1',
      '198.19.255.255',
      '192.0.0.170',
      '100::1',
      '64:ff9b::127.0.0.1',
      '64:ff9b::a00:1',
      '2002:7f00:1::',
      '2002:c0a8:101::1',
      '2002:a9fe:a9fe::',
    ]
    for (const host of spellings) {
      it(host, async () => {
        const decision = await resolveExit(host, 80, strict, noDns)
        assert.equal(decision.ok, false)
        assert.ok(!decision.ok && ['policy', 'invalid'].includes(decision.reason), JSON.stringify(decision))
      })
    }
  })

  it('judges the literals of the issue as the addresses they denote', () => {
    const expected: Array<[string, string, string]> = [
      ['127.0.0.1', '127.0.0.1', 'loopback'],
      ['::1', '::1', 'loopback'],
      ['::ffff:127.0.0.1', '127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', '127.0.0.1', 'loopback'],
      ['::127.0.0.1', '::7f00:1', 'loopback'],
      ['0.0.0.0', '0.0.0.0', 'unspecified'],
      ['::', '::', 'unspecified'],
      ['2130706433', '127.0.0.1', 'loopback'],
      ['0x7f000001', '127.0.0.1', 'loopback'],
      ['0x7f.1', '127.0.0.1', 'loopback'],
      ['0177.0.0.1', '127.0.0.1', 'loopback'],
      ['127.1', '127.0.0.1', 'loopback'],
      ['10.1', '10.0.0.1', 'private'],
      ['127.0.0.1.', '127.0.0.1', 'loopback'],
      ['10.0.0.1', '10.0.0.1', 'private'],
      ['172.16.0.1', '172.16.0.1', 'private'],
      ['192.168.1.1', '192.168.1.1', 'private'],
      ['169.254.169.254', '169.254.169.254', 'metadata'],
      ['169.254.1.1', '169.254.1.1', 'link-local'],
      ['100.100.100.200', '100.100.100.200', 'metadata'],
      ['100.64.0.1', '100.64.0.1', 'cgnat'],
      ['fd00::1', 'fd00::1', 'private'],
      ['fd00:ec2::254', 'fd00:ec2::254', 'metadata'],
      ['fe80::1%eth0', 'fe80::1%eth0', 'link-local'],
      ['[fe80::1]', 'fe80::1', 'link-local'],
      ['fec0::1', 'fec0::1', 'site-local'],
      ['ff02::1', 'ff02::1', 'multicast'],
      ['255.255.255.255', '255.255.255.255', 'broadcast'],
      ['240.0.0.1', '240.0.0.1', 'reserved'],
      ['2001:db8::1', '2001:db8::1', 'documentation'],
      ['198.18.0.1', '198.18.0.1', 'benchmarking'],
      ['192.0.0.8', '192.0.0.8', 'ietf'],
      ['100::1', '100::1', 'discard'],
      ['64:ff9b::127.0.0.1', '64:ff9b::7f00:1', 'loopback'],
      ['2002:c0a8:101::', '2002:c0a8:101::', 'private'],
      ['93.184.216.34', '93.184.216.34', 'public'],
      ['2606:4700::1111', '2606:4700::1111', 'public'],
      ['64:ff9b::5db8:d822', '64:ff9b::5db8:d822', 'public'],
    ]
    for (const [text, address, kind] of expected) {
      const parsed = ip(text)
      assert.equal(formatIp(parsed), address, text)
      assert.equal(classifyAddress(parsed), kind, text)
    }
  })

  it('refuses numeric-looking hosts that do not parse, without asking DNS', async () => {
    for (const host of [
      '256.0.0.1',
      '1.2.3.4.5',
      '08.0.0.1',
      '0x',
      '0xg.1',
      '127..1',
      '4294967296',
      '0x100000000',
      '1.16777216',
      '1.2.65536',
      'example.0x',
      'example.123',
      '127.0.0.1..',
      '.127.0.0.1',
      '::1.',
      ':::1',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6::1.2.3.4',
      '::ffff:127.0.0.01',
      '::ffff:127.1',
      '[127.0.0.1]',
      '[::1',
      '::1]',
      'fe80::1%',
      'fe80::1%a%b',
      '127.0.0.1 ',
      ' 127.0.0.1',
      '127.0.0.1\u0000.example.com',
      'exa mple.com',
      'ex\u00e4mple.com',
      '',
      '.',
      'a..b',
      `${'a'.repeat(64)}.com`,
      `${'a.'.repeat(127)}com`,
    ]) {
      assert.deepEqual(await resolveExit(host, 80, strict, noDns), { ok: false, reason: 'invalid' }, host)
    }
  })

  it('refuses a name that resolves to loopback (rebinding), and checks every answer', async () => {
    const dns = fakeDns({
      'rebind.test': ['127.0.0.1'],
      'mixed.test': ['93.184.216.34', '10.0.0.1'],
      'mapped.test': ['::ffff:169.254.169.254'],
      'public.test': ['93.184.216.34', '2606:4700::1111'],
      'v6.test': ['2606:4700::1111'],
      'empty.test': [],
      'garbage.test': ['not-an-address'],
    })
    assert.deepEqual(await resolveExit('rebind.test', 80, strict, dns), { ok: false, reason: 'policy' })
    assert.deepEqual(await resolveExit('REBIND.test.', 80, strict, dns), { ok: false, reason: 'policy' })
    assert.deepEqual(await resolveExit('mixed.test', 80, strict, dns), { ok: false, reason: 'policy' })
    assert.deepEqual(await resolveExit('mapped.test', 80, strict, dns), { ok: false, reason: 'policy' })
    assert.deepEqual(await resolveExit('public.test', 443, strict, dns), {
      ok: true,
      address: '93.184.216.34',
      family: 4,
    })
    assert.deepEqual(await resolveExit('v6.test', 443, strict, dns), {
      ok: true,
      address: '2606:4700::1111',
      family: 6,
    })
    assert.deepEqual(await resolveExit('nxdomain.test', 80, strict, dns), {
      ok: false,
      reason: 'unresolvable',
    })
    assert.deepEqual(await resolveExit('empty.test', 80, strict, dns), { ok: false, reason: 'unresolvable' })
    assert.deepEqual(await resolveExit('garbage.test', 80, strict, dns), {
      ok: false,
      reason: 'unresolvable',
    })
    assert.deepEqual(dns.asked, [
      'rebind.test.',
      'rebind.test.',
      'mixed.test.',
      'mapped.test.',
      'public.test.',
      'v6.test.',
      'nxdomain.test.',
      'empty.test.',
      'garbage.test.',
    ])
  })

  it('refuses localhost. through the default resolver, and the real resolver answer is judged too', async () => {
    assert.deepEqual(await resolveExit('localhost.', 80, strict), { ok: false, reason: 'policy' })
    // The name rule answers before DNS; prove the post-resolution check holds on its own by sending a
    // name through the real getaddrinfo (/etc/hosts) path and judging what it returns.
    const real = await defaultLookup('localhost')
    assert.ok(real.length > 0)
    const viaRealResolver: Lookup = () => defaultLookup('localhost')
    assert.deepEqual(await resolveExit('rebind.test', 80, strict, viaRealResolver), {
      ok: false,
      reason: 'policy',
    })
    for (const name of ['localhost', 'node1.localhost.']) {
      assert.deepEqual(await resolveExit(name, 80, testnet, noDns), {
        ok: true,
        address: '127.0.0.1',
        family: 4,
      })
    }
  })

  it('allows public destinations', async () => {
    for (const host of [
      '93.184.216.34',
      '1.1.1.1',
      '8.8.8.8',
      '2606:4700::1111',
      '[2606:4700::1111]',
      '0x5db8d822',
    ]) {
      const decision = await resolveExit(host, 443, strict, noDns)
      assert.ok(decision.ok, host)
    }
    assert.deepEqual(await resolveExit('0x5db8d822', 443, strict, noDns), {
      ok: true,
      address: '93.184.216.34',
      family: 4,
    })
    assert.deepEqual(await resolveExit('::ffff:93.184.216.34', 443, strict, noDns), {
      ok: true,
      address: '93.184.216.34',
      family: 4,
    })
  })

  it('applies ports: 0 always refused, the operator allow-list otherwise', async () => {
    assert.deepEqual(await resolveExit('93.184.216.34', 0, strict, noDns), { ok: false, reason: 'port' })
    assert.deepEqual(await resolveExit('93.184.216.34', 0, testnet, noDns), { ok: false, reason: 'port' })
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      assert.deepEqual(await resolveExit('93.184.216.34', port, strict, noDns), {
        ok: false,
        reason: 'invalid',
      })
    }
    assert.ok((await resolveExit('93.184.216.34', 65535, strict, noDns)).ok)
    const web: ExitPolicy = { allowPrivate: false, ports: new Set([80, 443]) }
    assert.ok((await resolveExit('93.184.216.34', 443, web, noDns)).ok)
    assert.deepEqual(await resolveExit('93.184.216.34', 25, web, noDns), { ok: false, reason: 'port' })
    // A forbidden port is refused before DNS is asked.
    assert.deepEqual(await resolveExit('public.test', 25, web, noDns), { ok: false, reason: 'port' })
  })

  it('refuses port 25 (SMTP) unless the operator lists it', async () => {
    assert.deepEqual(await resolveExit('93.184.216.34', 25, strict, noDns), { ok: false, reason: 'port' })
    assert.deepEqual(await resolveExit('127.0.0.1', 25, testnet, noDns), { ok: false, reason: 'port' })
    const mail: ExitPolicy = { allowPrivate: false, ports: new Set([25, 587]) }
    assert.ok((await resolveExit('93.184.216.34', 25, mail, noDns)).ok)
    for (const port of [24, 26, 465, 587])
      assert.ok((await resolveExit('93.184.216.34', port, strict, noDns)).ok)
  })

  it("refuses the relay's own addresses and everything in its IPv6 /64s", async () => {
    // A VPS with a public IPv4 and an IPv6 /64 on its interface, behind no NAT; also a LAN address.
    const own: ExitPolicy = {
      allowPrivate: false,
      ownAddresses: () => ['203.0.114.7', '2a01:4f8:c17:9e3c::1', 'fe80::1', '192.168.1.20'],
    }
    for (const host of [
      '203.0.114.7',
      '::ffff:203.0.114.7',
      '3405804039', // 203.0.114.7 as one number
      '64:ff9b::203.0.114.7', // NAT64 back to it
      '2002:cb00:7207::1', // 6to4 back to it
      '2a01:4f8:c17:9e3c::1',
      '2a01:4f8:c17:9e3c::2', // the operator's laptop on the same /64
      '2a01:4f8:c17:9e3c:ffff:ffff:ffff:ffff',
      '[2A01:04F8:0C17:9E3C:0:0:0:99]',
    ]) {
      assert.deepEqual(await resolveExit(host, 443, own, noDns), { ok: false, reason: 'policy' }, host)
    }
    const dns = fakeDns({
      'self.test': ['2a01:4f8:c17:9e3c::80'],
      'elsewhere.test': ['2a01:4f8:c17:9e3d::1'],
    })
    assert.deepEqual(await resolveExit('self.test', 443, own, dns), { ok: false, reason: 'policy' })
    for (const host of ['203.0.114.8', '2a01:4f8:c17:9e3d::1', '2a01:4f8:c17:9e3b::1', '93.184.216.34']) {
      assert.ok((await resolveExit(host, 443, own, noDns)).ok, host)
    }
    assert.ok((await resolveExit('elsewhere.test', 443, own, dns)).ok)
    // The interfaces are read at every decision: an address gained later is refused from then on.
    const addresses = ['2a01:4f8:c17:9e3c::1']
    const changing: ExitPolicy = { allowPrivate: false, ownAddresses: () => addresses }
    assert.ok((await resolveExit('198.51.99.1', 443, changing, noDns)).ok)
    addresses.push('198.51.99.1')
    assert.deepEqual(await resolveExit('198.51.99.1', 443, changing, noDns), { ok: false, reason: 'policy' })
  })

  it("knows the relay's own addresses: its interfaces and the addresses libp2p reports", () => {
    const announced = [multiaddr('/ip4/198.51.99.7/tcp/4001'), multiaddr('/dns4/relay.example/tcp/4001')]
    const own = ownAddresses(() => announced)()
    assert.ok(own.includes('127.0.0.1'), 'the loopback interface')
    assert.ok(own.includes('198.51.99.7'))
    assert.ok(!own.some(a => a.includes('example')), 'names are not addresses')
  })

  it('with allowPrivate still refuses own public addresses, and lets a testnet reach its own loopback', async () => {
    const testnetHere: ExitPolicy = {
      allowPrivate: true,
      ownAddresses: () => ['127.0.0.1', '::1', '2a01:4f8::1'],
    }
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      assert.ok((await resolveExit(host, 80, testnetHere, noDns)).ok, host)
    }
    assert.deepEqual(await resolveExit('2a01:4f8::5', 80, testnetHere, noDns), {
      ok: false,
      reason: 'policy',
    })
    assert.equal(mayConnect(ip('2a01:4f8::5'), testnetHere), false)
    assert.equal(mayConnect(ip('2a01:4f8:0:1::5'), testnetHere), true)
    assert.equal(mayConnect(ip('127.0.0.1'), testnetHere), true)
    assert.equal(mayConnect(ip('127.0.0.1'), strict), false)
  })

  it('with allowPrivate permits loopback and private, never unspecified, multicast, broadcast or metadata', async () => {
    for (const host of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', 'fd00::1', '100.64.0.1', '127.1']) {
      assert.ok((await resolveExit(host, 80, testnet, noDns)).ok, host)
    }
    for (const host of [
      '0.0.0.0',
      '::',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '169.254.169.254',
      'fd00:ec2::254',
      '100.100.100.200',
      '192.0.2.1',
    ]) {
      assert.deepEqual(await resolveExit(host, 80, testnet, noDns), { ok: false, reason: 'policy' }, host)
    }
    const dns = fakeDns({ 'rebind.test': ['127.0.0.1'] })
    assert.deepEqual(await resolveExit('rebind.test', 80, testnet, dns), {
      ok: true,
      address: '127.0.0.1',
      family: 4,
    })
  })

  it('property: every spelling of a random IPv4 address classifies identically', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), n => {
        const [a, b, c, d] = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
        const dotted = `${a}.${b}.${c}.${d}`
        const hex4 = (x: number) => x.toString(16)
        const spellings = [
          dotted,
          `${dotted}.`,
          String(n),
          `0x${n.toString(16)}`,
          `0X${n.toString(16).toUpperCase()}`,
          `0${n.toString(8)}`,
          [a, b, c, d].map(x => `0${x.toString(8)}`).join('.'),
          [a, b, c, d].map(x => `0x${hex4(x)}`).join('.'),
          `${a}.${(b << 16) | (c << 8) | d}`,
          `${a}.${b}.${(c << 8) | d}`,
          `0x${hex4(a)}.0${((b << 16) | (c << 8) | d).toString(8)}`,
          `::ffff:${dotted}`,
          `[::ffff:${dotted}]`,
          `::FFFF:${hex4((a << 8) | b)}:${hex4((c << 8) | d)}`,
          `0:0:0:0:0:ffff:${dotted}`,
        ]
        const reference = ip(dotted)
        const kind = classifyAddress(reference)
        for (const spelling of spellings) {
          const parsed = ip(spelling)
          assert.equal(formatIp(parsed), dotted, spelling)
          assert.equal(classifyAddress(parsed), kind, spelling)
        }
        // Addresses that embed a forbidden IPv4 address are forbidden too.
        if (isForbiddenAddress(reference)) {
          const w1 = hex4((a << 8) | b)
          const w2 = hex4((c << 8) | d)
          for (const embedded of [`64:ff9b::${dotted}`, `2002:${w1}:${w2}::1`, `::${dotted}`]) {
            assert.ok(isForbiddenAddress(ip(embedded)), embedded)
          }
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('property: whatever the WHATWG URL parser reads as IPv4 is read the same or refused as invalid', async () => {
    const part = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.integer({ min: 0, max: 0xffffffff }).map(String),
      fc.integer({ min: 0, max: 0x1ffff }).map(x => `0x${x.toString(16)}`),
      fc.integer({ min: 0, max: 0o777 }).map(x => `0${x.toString(8)}`),
      fc.constantFrom('0x', '08', '09', '', 'x', '1e2'),
    )
    const host = fc.array(part, { minLength: 1, maxLength: 5 }).map(parts => parts.join('.'))
    await fc.assert(
      fc.asyncProperty(host, fc.boolean(), async (h, trailingDot) => {
        const text = trailingDot ? `${h}.` : h
        let whatwg: string | undefined
        try {
          whatwg = new URL(`http://${text}/`).hostname
        } catch {
          whatwg = undefined
        }
        const decision = await resolveExit(text, 80, testnet, fakeDns({}))
        const ours = parseIp(text)
        if (whatwg !== undefined && /^[0-9.]+$/.test(whatwg)) {
          assert.ok(ours === undefined || formatIp(ours) === whatwg, `${text}: ${whatwg}`)
          if (ours === undefined) assert.deepEqual(decision, { ok: false, reason: 'invalid' }, text)
        }
        if (ours === undefined && /^[0-9.]+$/.test(text)) {
          assert.deepEqual(decision, { ok: false, reason: 'invalid' }, text)
        }
      }),
      { numRuns: 3000 },
    )
  })

  it('property: IPv6 text round-trips and agrees with node:net on validity', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), bytes => {
        const text = Array.from({ length: 8 }, (_, i) =>
          ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16),
        ).join(':')
        const parsed = ip(text)
        const again = ip(formatIp(parsed))
        assert.deepEqual(again, parsed)
        assert.equal(classifyAddress(again), classifyAddress(parsed))
      }),
      { numRuns: 2000 },
    )
    const group = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map(x => x.toString(16)),
      fc.constantFrom('', '0', 'ffff', '00000', 'g', '1.2.3.4', '01.2.3.4', '256.1.1.1'),
    )
    fc.assert(
      fc.property(fc.array(group, { minLength: 1, maxLength: 10 }), groups => {
        const text = groups.join(':')
        const ours = parseIp(text)
        if (!text.includes(':')) return
        assert.equal(ours !== undefined, isIPv6(text), text)
      }),
      { numRuns: 5000 },
    )
  })
})
