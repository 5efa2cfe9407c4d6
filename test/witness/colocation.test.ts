import { strict as assert } from 'node:assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initDataDir, writeNetworkFile } from '../../node/host/datadir.ts'
import { createLocalNetwork } from '../../node/host/local-network.ts'
import { generateEd25519 } from '../../protocol/ed25519.ts'
import { networkDefinitionToJson, parseNetworkDefinition } from '../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../protocol/peer.ts'
import type { ProbeReport } from '../../witness/witness.ts'
import { waitFor } from '../helpers/wait.ts'
import { Children } from './processes.ts'

const MB = 1_000_000
const MACHINE = 3 * MB
const LONE = 2 * MB
const SHARED = 3

// One witness and five relays, one epoch: three identities on one machine (127.0.0.1, one 3 MB/s token
// bucket for all three), a 2 MB/s relay on 127.0.1.1 and a fast helper on 127.0.1.2. Probed alone, each
// of the three would read the whole machine; probed together, their readings add up to it.
describe('witness: co-located identities', function () {
  this.timeout(150_000)
  const children = new Children()
  let work: string
  const names = new Map<string, string>()
  let reports: ProbeReport[] = []

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'weir-colo-'))
    const made = createLocalNetwork({
      out: join(work, 'net'),
      witnesses: 1,
      committee: 1,
      epochSeconds: 50,
      graceSeconds: 50,
      probeSeconds: 4,
      witnessesPerRelay: 1,
      minAttestations: 1,
      eligibilityDelay: 0,
      emission: 1000n,
      chainId: 31337,
      genesis: 0,
    })
    const roles = ['helper', 'lone', ...Array.from({ length: SHARED }, (_, i) => `shared-${i + 1}`)]
    const keys = roles.map(() => generateEd25519())
    const peers = keys.map(k => peerIdToString(peerIdOfPublicKey(k.publicKey)))
    for (const [i, p] of peers.entries()) names.set(p, roles[i] as string)
    const network = parseNetworkDefinition({
      ...networkDefinitionToJson(made.network),
      genesis: Date.now() + 12_000,
      relays: peers.map(peerId => ({ peerId, payout: `0x${'ab'.repeat(20)}` })),
    })
    const witnessDir = made.witnessDirs[0] as string
    writeNetworkFile(join(witnessDir, 'network.json'), network)
    const dirs = roles.map((role, i) => {
      const dir = join(work, role)
      initDataDir(dir, network, { payout: `0x${'ab'.repeat(20)}` }, keys[i])
      return dir
    })
    const relay = (dir: string, listen: string, cap: number) =>
      children.weir<{ addresses: string[] }>([
        'relay',
        '--dir',
        dir,
        '--listen',
        listen,
        '--allow-private-exits',
        '--max-bandwidth',
        `${cap}B/s`,
      ])
    const helper = await relay(dirs[0] as string, '/ip4/127.0.1.2/tcp/0', 100 * MB)
    const boot = ['--bootstrap', helper.addresses[0] as string]
    const lone = await relay(dirs[1] as string, '/ip4/127.0.1.1/tcp/0', LONE)
    const shared = await children.start<{ relays: { addresses: string[] }[] }>([
      '--import',
      'tsx',
      'test/witness/shared-machine.ts',
      '--max-bandwidth',
      String(MACHINE),
      ...dirs.slice(2).flatMap(d => ['--dir', d]),
      ...boot,
    ])
    const all = [helper, lone, ...shared.relays].map(r => r.addresses[0] as string)
    const witness = await children.weir<{ status: string }>([
      'witness',
      '--dir',
      witnessDir,
      '--status',
      '127.0.0.1:0',
      '--concurrency',
      '1',
      ...all.flatMap(a => ['--bootstrap', a]),
    ])
    let seen = ''
    await waitFor(
      async () => {
        const status = (await (await fetch(`http://${witness.status}/status`)).json()) as {
          probes: { done: number; skipped: number }
          recent: ProbeReport[]
        }
        reports = status.recent
        seen = JSON.stringify(status.probes)
        return roles.slice(1).every(role => reports.some(r => names.get(r.relay) === role))
      },
      { what: 'a probe of every relay but the helper', timeoutMs: 120_000, intervalMs: 1000 },
    ).catch(err => {
      const log = [...children.stderr].find(([args]) => args.includes(' witness'))?.[1] ?? ''
      throw new Error(`${err.message} (probes ${seen}): ${log.slice(-3000)}`)
    })
  })

  after(() => {
    children.killAll()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  const capacity = (role: string): number => {
    const r = reports.find(x => names.get(x.relay) === role)
    assert.ok(r, `no probe of ${role}`)
    assert.equal(r.outcome, 'ok', `${role}: ${r.outcome}`)
    return Math.min(r.forwardBps, r.reverseBps)
  }

  it('reads the identities of one machine as shares of it, and a relay at another address alone', () => {
    const shares = Array.from({ length: SHARED }, (_, i) => capacity(`shared-${i + 1}`))
    const sum = shares.reduce((a, b) => a + b, 0)
    const lone = capacity('lone')
    console.log(
      `      machine ${MACHINE / MB} MB/s: ${shares.map(s => (s / MB).toFixed(2)).join(' + ')} = ${(sum / MB).toFixed(2)} MB/s; lone ${LONE / MB} MB/s: ${(lone / MB).toFixed(2)} MB/s`,
    )
    assert.ok(Math.abs(sum - MACHINE) / MACHINE < 0.1, `the machine's identities read ${shares} B/s in all`)
    assert.ok(Math.abs(lone - LONE) / LONE < 0.1, `the relay alone at 127.0.1.1 read ${lone} B/s`)
  })
})
