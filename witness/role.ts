import { join } from 'node:path'
import { loadDataDir } from '../node/host/datadir.ts'
import { createHost, holePunching } from '../node/host/host.ts'
import type { Logger } from '../node/host/log.ts'
import { startStatusServer } from '../node/host/status-server.ts'
import { joinAttestations } from '../node/network/attestations.ts'
import { RelayDirectory } from '../node/network/directory.ts'
import { capacityOf } from '../protocol/attestation.ts'
import { peerIdToString } from '../protocol/peer.ts'
import { witnessIndex } from '../protocol/validate.ts'
import { askTraffic } from './background.ts'
import { relayCircuits } from './circuit.ts'
import { dialLocate } from './locate.ts'
import type { ProbeGate } from './probe-gate.ts'
import { ProbeSink, sharedAddress } from './sink.ts'
import { openPeerKnowledge } from '../node/host/peer-knowledge.ts'
import { logReachability } from '../node/host/reachability.ts'
import { witnessStatus } from './status.ts'
import { Witness } from './witness.ts'

export interface WitnessRoleOptions {
  /** a witness data dir */
  dir: string
  listen?: string[]
  /** addresses to announce instead of the listen addresses */
  announce?: string[]
  bootstrap?: string[]
  /** STUN servers for hole punching (DEFAULT_STUN_SERVERS when absent) */
  stunServers?: string[]
  /** where the probe sink listens; relays are told to connect there */
  sink: { host: string; port: number }
  /** where /status and /metrics are served, if anywhere */
  status?: { host: string; port: number }
  /** a ledger API to fetch certificates (epoch seeds) from when the votes topic has not brought them */
  ledger?: string
  concurrency: number
  gate?: ProbeGate
  log: (line: string) => void
  /** where the host tells problems an operator can fix (no bootstrap peer reachable) */
  logger?: Logger
}

/** What a started witness prints first: how to reach it. */
export interface WitnessRoleInfo {
  peerId: string
  addresses: string[]
  sink: string
  status: string | null
}

/** The sink was given an address the witness listens on: a configuration error, not a failure. */
export class SinkAddressError extends Error {
  override name = 'SinkAddressError'
}

/**
 * Runs the witness role from its data dir: the libp2p host, the relay directory, the probe sink, the
 * Witness and its status server. `weir witness` starts it from its flags, weir testnet with its gate.
 */
export async function startWitnessRole(
  o: WitnessRoleOptions,
): Promise<{ info: WitnessRoleInfo; stop(): Promise<void> }> {
  const data = loadDataDir(o.dir)
  const network = data.network
  if (witnessIndex(network, data.identity.peerIdBytes) === undefined) {
    throw new Error(`${o.dir}: ${data.identity.peerId} is not one of the network's witnesses`)
  }
  const peers = await openPeerKnowledge(o.dir)
  const host = await createHost({
    datastore: peers,
    networkId: network.id,
    privateKey: data.identity.libp2pKey,
    listen: o.listen,
    ...(o.announce ? { announce: o.announce } : {}),
    bootstrap: [...network.bootstrap, ...(o.bootstrap ?? [])],
    local: network.local === true,
    ...(o.stunServers ? { stunServers: o.stunServers } : {}),
    ...(o.logger ? { log: o.logger } : {}),
  })
  // probes and locating dial from fresh identities, which punch through NATs as the host does
  const punching = holePunching(network.local === true, o.stunServers)
  if (o.logger) logReachability(host.services.reachability, o.logger)
  const directory = new RelayDirectory(host, network, Date.now, peers)
  await directory.restore()
  directory.start()
  // helpers are chosen by their capacity and dialled at their addresses, both from relay records
  const stopDiscovering = directory.keepDiscovering(30_000)
  const sink = await ProbeSink.listen(o.sink.host, o.sink.port)
  const shared = sharedAddress(sink.host, host.getMultiaddrs())
  if (shared !== undefined) {
    stopDiscovering()
    await sink.close()
    await host.stop()
    await peers.close()
    throw new SinkAddressError(
      `--sink ${sink.host} is where this witness listens (${shared}): relays would know probes by ` +
        'where they exit; give the sink an address the witness does not listen on (on one machine, e.g. 127.0.0.2)',
    )
  }
  let witness: Witness | undefined
  const { seeds, registry, evidence, topic } = joinAttestations(
    host.services.pubsub,
    network,
    join(o.dir, 'evidence.jsonl'),
    a => {
      witness?.noteAttestation(a)
      if (a.outcome === 'ok') directory.setCapacity(peerIdToString(a.relay), capacityOf(a))
    },
  )
  const ledger = o.ledger
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
    circuits: relayCircuits(host, network.id, punching),
    locate: dialLocate(host, punching),
    traffic: (relay, span) => askTraffic(host, network.id, relay, span),
    fetchCertificate: ledger === undefined ? undefined : epoch => seeds.fetchFrom(ledger, epoch),
    concurrency: o.concurrency,
    ...(o.gate ? { gate: o.gate } : {}),
    log: o.log,
  })
  witness.start()
  const statusServer =
    o.status &&
    (await startStatusServer(
      o.status.host,
      o.status.port,
      witnessStatus(host, witness, topic, evidence, sink, directory),
    ))
  const running = witness
  return {
    info: {
      peerId: host.peerId.toString(),
      addresses: host.getMultiaddrs().map(String),
      sink: `${sink.host}:${sink.port}`,
      status: statusServer?.address ?? null,
    },
    async stop() {
      stopDiscovering()
      await running.stop()
      topic.stop()
      await statusServer?.close()
      await sink.close()
      await host.stop()
      await peers.close()
    },
  }
}
