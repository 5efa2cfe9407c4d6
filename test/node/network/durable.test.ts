import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initDataDir } from '../../../node/host/datadir.ts'
import { testNetwork } from '../../helpers/network.ts'
import { waitFor } from '../../helpers/wait.ts'
import { relayListen } from '../../witness/processes.ts'
import { exited, Processes } from '../processes.ts'

// Durable peer knowledge, with real `weir relay` processes on 127.0.0.1: a relay restarted with its data
// dir finds the network again without its bootstrap address, and knows the relays it knew.

interface RelayStatus {
  peerId: string
  connections: number
  knownRelays: { peerId: string }[]
}

describe('durable peer knowledge (real relay processes)', function () {
  this.timeout(60_000)
  const procs = new Processes()
  let work: string

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'weir-durable-'))
  })

  after(() => {
    procs.killAll()
    rmSync(work, { recursive: true, force: true })
  })

  const status = async (at: string): Promise<RelayStatus> =>
    (await (await fetch(`http://${at}/status`)).json()) as RelayStatus

  it('restarts a relay without its bootstrap address: it reconnects and still knows the relays it knew', async () => {
    const { network } = testNetwork({ label: 'durable', overrides: { id: 'durable-test' } })
    const dir = (name: string) =>
      initDataDir(join(work, name), network, { payout: `0x${'ef'.repeat(20)}` }).dir
    const relay = (d: string, i: number, ...extra: string[]) =>
      procs.start<{ peerId: string; addresses: string[]; status: string }>([
        'relay',
        '--dir',
        d,
        '--listen',
        relayListen(i),
        '--status',
        '127.0.0.1:0',
        '--drain-seconds',
        '0',
        ...extra,
      ])
    const a = await relay(dir('a'), 210)
    const bDir = dir('b')
    const b = await relay(bDir, 211, '--bootstrap', a.info.addresses[0] as string)
    const knows = (s: RelayStatus, peer: string) => s.knownRelays.some(r => r.peerId === peer)
    await waitFor(async () => knows(await status(b.info.status), a.info.peerId), {
      what: 'relay b to learn relay a',
    })
    b.child.kill('SIGTERM')
    assert.equal(await exited(b.child), 0)

    const again = await relay(bDir, 211)
    assert.equal(again.info.peerId, b.info.peerId)
    const restarted = await status(again.info.status)
    assert.ok(knows(restarted, a.info.peerId), 'the restarted relay forgot relay a')
    // a knows no address of b's new listener: a connection is b's dial from its remembered peers
    await waitFor(async () => (await status(again.info.status)).connections > 0, {
      what: 'the restarted relay to reconnect to relay a',
    })
  })
})
