import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateEd25519 } from '../../../protocol/ed25519.ts'
import type { NetworkDefinition } from '../../../protocol/network.ts'
import { peerIdOfPublicKey, peerIdToString } from '../../../protocol/peer.ts'
import { encodeRelayRecord, signRelayRecord } from '../../../protocol/record.ts'
import { RelayDirectory } from '../../../node/network/directory.ts'
import { createHost, type Host, topic } from '../../../node/host/host.ts'
import { createIdentity } from '../../../node/host/identity.ts'
import { RecordPublisher } from '../../../node/relay/relay-records.ts'
import { testNetwork } from '../../helpers/network.ts'
import { waitFor } from '../../helpers/wait.ts'

// the gossipsub class has getMeshPeers; its public interface does not declare it
const meshOf = (host: Host, name: string): string[] =>
  (host.services.pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(name)

/** The part of libp2p's address manager that identify and AutoNAT drive. */
interface ObservedAddresses {
  confirmObservedAddr(address: Multiaddr, options: { type: 'observed' }): void
}

describe('relay records and the relay directory', () => {
  const { network } = testNetwork({ overrides: { id: 'dir-test' } })
  const dirs: string[] = []
  const hosts: Host[] = []
  const payout = new Uint8Array(20).fill(7)

  async function startRelay(bootstrap: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), 'weir-dir-'))
    dirs.push(dir)
    const identity = createIdentity(dir)
    const host = await createHost({
      local: true,
      networkId: network.id,
      privateKey: identity.libp2pKey,
      bootstrap,
    })
    hosts.push(host)
    const directory = new RelayDirectory(host, network)
    directory.start()
    const publisher = new RecordPublisher(host, {
      network,
      identity,
      payout,
      maxBandwidthBps: 5e6,
      directory,
    })
    await publisher.start()
    return { host, directory, publisher, identity }
  }

  async function startClient(bootstrap: string[]) {
    const host = await createHost({
      local: true,
      networkId: network.id,
      privateKey: await generateKeyPair('Ed25519'),
      bootstrap,
    })
    hosts.push(host)
    const directory = new RelayDirectory(host, network)
    directory.start()
    return { host, directory }
  }

  after(async () => {
    await Promise.all(hosts.map(h => h.stop()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('finds relays by /record on connect, by gossip and through the DHT rendezvous key', async () => {
    const a = await startRelay()
    const addrA = a.host.getMultiaddrs()[0]!.toString()
    const b = await startRelay([addrA])
    await waitFor(() => a.directory.get(b.host.peerId.toString()) !== undefined, { what: 'A to know B' })
    assert.equal(b.directory.get(a.host.peerId.toString())?.record.maxBandwidthBps, 5e6)

    const client = await startClient([addrA])
    await waitFor(() => client.directory.list().length === 1, { what: 'the client to know A' })
    assert.equal(client.directory.list()[0]?.peerId, a.host.peerId.toString())
    await client.directory.discover({ signal: AbortSignal.timeout(10_000) })
    const known = client.directory.get(b.host.peerId.toString())
    assert(known, 'relay B found through the DHT')
    assert.deepEqual(known.record.addrs, b.host.getMultiaddrs().map(String))
    // Its addresses are in the peer store, so a tunnel can dial it by PeerId.
    assert((await client.host.peerStore.get(b.host.peerId)).addresses.length > 0)

    client.directory.setCapacity(b.host.peerId.toString(), 1e6)
    assert.equal(client.directory.list()[0]?.peerId, b.host.peerId.toString())
  })

  it('accepts only verified, newer records of its own network from gossip', async () => {
    const a = await startRelay()
    const client = await startClient([a.host.getMultiaddrs()[0]!.toString()])
    await waitFor(() => client.directory.list().length === 1, { what: 'the client to know A' })
    await waitFor(() => meshOf(a.host, topic(network.id, 'relays')).includes(client.host.peerId.toString()), {
      what: "the client in A's gossip mesh",
    })
    const current = client.directory.get(a.host.peerId.toString())!.record
    const publish = (record: typeof current) =>
      a.host.services.pubsub.publish(topic(network.id, 'relays'), encodeRelayRecord(record))
    const seed = a.identity.key.seed
    await publish(signRelayRecord({ ...current, net: 'other-net', seq: current.seq + 10 }, seed))
    await publish({ ...current, seq: current.seq + 20, maxBandwidthBps: 1 }) // signature no longer matches
    await publish(signRelayRecord({ ...current, seq: current.seq - 1, maxBandwidthBps: 2 }, seed))
    // A valid newer record arrives, so the ones above were delivered and dropped, not lost.
    await publish(signRelayRecord({ ...current, seq: current.seq + 30, maxBandwidthBps: 3 }, seed))
    await waitFor(() => client.directory.get(a.host.peerId.toString())?.record.seq === current.seq + 30, {
      what: 'the newest valid record',
    })
    assert.equal(client.directory.get(a.host.peerId.toString())?.record.maxBandwidthBps, 3)
  })

  it('gossips a new address even when something read the record before the change event came', async () => {
    const a = await startRelay()
    const client = await startClient([a.host.getMultiaddrs()[0]!.toString()])
    await waitFor(() => meshOf(a.host, topic(network.id, 'relays')).includes(client.host.peerId.toString()), {
      what: "the client in A's gossip mesh",
    })
    // What identify does when peers see this relay at another address and AutoNAT confirms it. libp2p
    // announces the address at once but tells the node (self:peer:update) only a second later.
    const seen = multiaddr('/ip4/127.0.0.9/tcp/4009')
    const { addressManager } = (a.host as unknown as { components: { addressManager: ObservedAddresses } })
      .components
    addressManager.confirmObservedAddr(seen, { type: 'observed' })
    const signed = a.publisher.current
    assert.ok(
      signed?.addrs.some(address => address.startsWith(seen.toString())),
      'the record names it',
    )
    // /status, the dashboard and `/record` read it like this in the meantime; the gossip must still go out
    await waitFor(() => client.directory.get(a.host.peerId.toString())?.record.seq === signed?.seq, {
      what: 'the client to hear the record with the new address',
      timeoutMs: 10_000,
    })
  })
})

describe('the relay directory’s gossip verdicts', () => {
  const { network } = testNetwork({ overrides: { id: 'dir-verdicts' } })
  const key = generateEd25519()
  const relay = peerIdOfPublicKey(key.publicKey)
  const recordOf = (epoch: number, seq: number) =>
    encodeRelayRecord(
      signRelayRecord(
        { net: network.id, relay, epoch, seq, addrs: [], payout: new Uint8Array(20), maxBandwidthBps: 0 },
        key.seed,
      ),
    )

  /** The relays topic validator a directory installs, on a stand-in host (no network needed to judge). */
  async function validatorOf(directoryNetwork: NetworkDefinition | string) {
    const validators = new Map<string, (from: PeerId, msg: Message) => TopicValidatorResult>()
    const host = {
      services: { pubsub: { topicValidators: validators, subscribe: () => {} } },
      addEventListener: () => {},
      getConnections: () => [],
      hangUp: async () => {},
      peerStore: { merge: async () => {} },
    }
    const directory = new RelayDirectory(host as unknown as Host, directoryNetwork)
    directory.start()
    const validate = validators.get(topic(network.id, 'relays'))
    if (!validate) throw new Error('no validator installed')
    const from = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    return {
      directory,
      judge: (bytes: Uint8Array) => validate(from, { type: 'unsigned', topic: '', data: bytes } as Message),
    }
  }

  it('judges records by the protocol’s rule, timeliness included, before forwarding them', async () => {
    const { directory, judge } = await validatorOf(network)
    assert.equal(judge(recordOf(1, 1)), TopicValidatorResult.Reject, 'a record from the future')
    assert.equal(directory.size, 0)
    assert.equal(judge(recordOf(0, 2)), TopicValidatorResult.Accept)
    assert.equal(judge(recordOf(0, 2)), TopicValidatorResult.Ignore, 'not newer')
    assert.equal(directory.get(peerIdToString(relay))?.record.seq, 2)
  })

  it('knowing only the network id, keeps what it hears and forwards nothing', async () => {
    const { directory, judge } = await validatorOf(network.id)
    assert.equal(judge(recordOf(0, 1)), TopicValidatorResult.Ignore)
    assert.equal(directory.get(peerIdToString(relay))?.record.seq, 1)
    assert.equal(judge(recordOf(0, 1).fill(0, 20, 30)), TopicValidatorResult.Reject, 'a broken record')
  })

  it('counts as fresh only relays whose record is at most N epochs behind', async () => {
    const { network: old } = testNetwork({
      overrides: { id: 'dir-verdicts', genesis: Date.now() - 5 * 3600_000 - 30_000 },
    })
    const record = (epoch: number) => {
      const k = generateEd25519()
      const body = {
        net: old.id,
        relay: peerIdOfPublicKey(k.publicKey),
        epoch,
        seq: 1,
        addrs: [],
        payout: new Uint8Array(20),
        maxBandwidthBps: 0,
      }
      return signRelayRecord(body, k.seed)
    }
    const epochsOf = (d: RelayDirectory) =>
      d
        .fresh(2)
        .map(r => r.record.epoch)
        .sort((a, b) => a - b)
    const byClock = (await validatorOf(old)).directory
    const byNewest = (await validatorOf(old.id)).directory
    for (const epoch of [5, 4, 3, 2]) {
      byClock.add(record(epoch))
      byNewest.add(record(epoch))
    }
    assert.deepEqual(epochsOf(byClock), [3, 4, 5], 'by the network clock (epoch 5 now)')
    assert.deepEqual(epochsOf(byNewest), [2, 3, 4, 5], 'by the median record heard (epoch 4)')
    byNewest.add(record(2 ** 32 - 1))
    assert.deepEqual(epochsOf(byNewest), [2, 3, 4, 5, 2 ** 32 - 1], 'a future record pushes no one out')
    for (const epoch of [8, 8, 8]) byNewest.add(record(epoch))
    assert.deepEqual(epochsOf(byNewest), [8, 8, 8, 2 ** 32 - 1], 'most relays moved on to epoch 8')
    assert.deepEqual(epochsOf(byClock), [3, 4, 5])
  })
})
