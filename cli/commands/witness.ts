import { isIP } from 'node:net'
import { join } from 'node:path'
import { joinAttestations } from '../../node/network/attestations.ts'
import { loadDataDir } from '../../node/host/datadir.ts'
import { RelayDirectory } from '../../node/network/directory.ts'
import { createHost } from '../../node/host/host.ts'
import { startStatusServer } from '../../node/host/status-server.ts'
import { capacityOf } from '../../protocol/attestation.ts'
import { peerIdToString } from '../../protocol/peer.ts'
import { witnessIndex } from '../../protocol/validate.ts'
import { relayCircuits } from '../../witness/circuit.ts'
import { takeLease } from '../../witness/probe-lease.ts'
import { ProbeSink } from '../../witness/sink.ts'
import { witnessStatus } from '../../witness/status.ts'
import { Witness } from '../../witness/witness.ts'
import type { Command } from '../command.ts'
import { hostPortFlag, intFlag, parseFlags, requireFlag, UsageError, urlFlag } from '../args.ts'
import { untilSignal } from '../shutdown.ts'

const USAGE = `weir witness --dir DIR [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--sink HOST:PORT]
       [--status HOST:PORT] [--ledger URL] [--concurrency N] [--probe-leases URL]

Probes the relays assigned to this witness each epoch and gossips signed attestations. --sink is the
TCP address probe circuits exit to (default 127.0.0.1:0; relays must be able to reach it). --ledger is
a ledger API to fetch certificates (epoch seeds) from when the votes topic has not brought them.
--probe-leases is for witnesses sharing one machine (a local testnet): each probe waits for a lease on
its relays from that server, so probes never meet at a relay or compete for the CPU.
The first line on stdout is JSON with the peer id, listen addresses, sink and status addresses.`

export const command: Command = {
  summary: 'run a witness: probe assigned relays, publish signed attestations, serve /status and /metrics',
  usage: USAGE,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      dir: { type: 'string' },
      listen: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      sink: { type: 'string' },
      status: { type: 'string' },
      ledger: { type: 'string' },
      concurrency: { type: 'string' },
      'probe-leases': { type: 'string' },
    })
    const dir = requireFlag(v.dir, 'dir', 'a witness data dir (weir network new makes witness-N/)')
    const sinkAt = hostPortFlag(v.sink ?? '127.0.0.1:0', 'sink')
    // the sink's address is also where relays are told to connect: an unspecified one reaches nobody
    if (isIP(sinkAt.host) !== 0 && /^[0:.]+$/.test(sinkAt.host))
      throw new UsageError(
        `--sink is the address relays connect to: give one they can reach, not '${sinkAt.host}'`,
      )
    const status = v.status === undefined ? undefined : hostPortFlag(v.status, 'status')
    const concurrency = intFlag(v.concurrency, 'concurrency', 2, 1, 64)
    const ledger = v.ledger === undefined ? undefined : urlFlag(v.ledger, 'ledger', 'http://127.0.0.1:8080')
    const leases =
      v['probe-leases'] === undefined
        ? undefined
        : urlFlag(v['probe-leases'], 'probe-leases', 'http://127.0.0.1:8081')
    const data = loadDataDir(dir)
    const network = data.network
    if (witnessIndex(network, data.identity.peerIdBytes) === undefined) {
      throw new Error(`${dir}: ${data.identity.peerId} is not one of the network's witnesses`)
    }

    const stopRequested = untilSignal()
    const host = await createHost({
      networkId: network.id,
      privateKey: data.identity.libp2pKey,
      listen: v.listen,
      bootstrap: [...network.bootstrap, ...(v.bootstrap ?? [])],
    })
    const directory = new RelayDirectory(host, network)
    directory.start()
    // helpers are chosen by their capacity and dialled at their addresses, both from relay records
    const stopDiscovering = directory.keepDiscovering(30_000)
    const sink = await ProbeSink.listen(sinkAt.host, sinkAt.port)
    let witness: Witness | undefined
    const { seeds, registry, evidence, topic } = joinAttestations(
      host.services.pubsub,
      network,
      join(dir, 'evidence.jsonl'),
      a => {
        witness?.noteAttestation(a)
        if (a.outcome === 'ok') directory.setCapacity(peerIdToString(a.relay), capacityOf(a))
      },
    )
    witness = new Witness({
      network,
      peerIdBytes: data.identity.peerIdBytes,
      signingSeed: data.identity.key.seed,
      sink,
      topic,
      seeds,
      // relay records reach us through the directory (gossip, /record fetches, DHT) and the relays topic
      relays: {
        registryFor: epoch => {
          for (const known of directory.list()) registry.add(known.record)
          return registry.registryFor(epoch)
        },
        record: peerId => directory.get(peerId)?.record ?? registry.record(peerId),
      },
      openCircuit: relayCircuits(host, network.id),
      fetchCertificate: ledger === undefined ? undefined : epoch => seeds.fetchFrom(ledger, epoch),
      concurrency,
      lease: leases === undefined ? undefined : (relays, signal) => takeLease(leases, relays, signal),
      log: line => console.error(`weir witness: ${line}`),
    })
    witness.start()
    const statusServer =
      status &&
      (await startStatusServer(
        status.host,
        status.port,
        witnessStatus(host, witness, topic, evidence, sink, directory),
      ))
    console.log(
      JSON.stringify({
        peerId: host.peerId.toString(),
        addresses: host.getMultiaddrs().map(String),
        sink: `${sink.host}:${sink.port}`,
        status: statusServer?.address ?? null,
      }),
    )

    const signal = await stopRequested
    console.error(`weir witness: ${signal}: stopping`)
    stopDiscovering()
    await witness.stop()
    topic.stop()
    await statusServer?.close()
    await sink.close()
    await host.stop()
    return 0
  },
}
