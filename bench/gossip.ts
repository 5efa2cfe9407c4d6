// Gossip delivery cost with and without gossipsub's fast message id (node/host/host.ts fastMessageId): five
// hosts in a full mesh on 127.0.0.1, one publishes attestation-sized messages, the other four receive
// each one, and copies from other mesh peers arrive too. CPU seconds of this process (all five hosts)
// per message delivered to all, both measured in the same run.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createHost, type Host, topic } from '../node/host/host.ts'

const HOSTS = 5
const MESSAGES = 2000
const BYTES = 230
const NET = 'bench-gossip'

async function deliver(fast: boolean): Promise<number> {
  const hosts: Host[] = []
  try {
    for (let i = 0; i < HOSTS; i++)
      hosts.push(
        await createHost({ local: true, networkId: NET, privateKey: await generateKeyPair('Ed25519') }),
      )
    // without a fast id function gossipsub deduplicates only after checking each copy's signature
    if (!fast) for (const h of hosts) Object.assign(h.services.pubsub, { fastMsgIdFn: undefined })
    const name = topic(NET, 'attestations')
    for (const h of hosts) h.services.pubsub.subscribe(name)
    for (let i = 0; i < HOSTS; i++)
      for (let j = i + 1; j < HOSTS; j++)
        await hosts[i]?.dial((hosts[j] as Host).getMultiaddrs()[0] as Multiaddr)
    for (let tries = 0; tries < 100; tries++) {
      if (hosts.every(h => h.services.pubsub.getSubscribers(name).length === HOSTS - 1)) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    let received = 0
    const all = Promise.withResolvers<void>()
    for (const h of hosts.slice(1))
      h.services.pubsub.addEventListener('message', () => {
        if (++received === MESSAGES * (HOSTS - 1)) all.resolve()
      })
    const publisher = hosts[0] as Host
    const cpu = process.cpuUsage()
    for (let i = 0; i < MESSAGES; i++) {
      await publisher.services.pubsub.publish(name, new Uint8Array(BYTES).fill(i % 256))
      if (i % 50 === 49) await new Promise(resolve => setImmediate(resolve))
    }
    await all.promise
    const used = process.cpuUsage(cpu)
    return (used.user + used.system) / 1e6
  } finally {
    await Promise.all(hosts.map(h => h.stop()))
  }
}

export async function main(): Promise<void> {
  const without = await deliver(false)
  const withFast = await deliver(true)
  const us = (s: number) => Math.round((s / MESSAGES) * 1e6)
  console.log(
    `${MESSAGES} messages to ${HOSTS - 1} receivers in a full mesh of ${HOSTS}: ${us(withFast)} µs CPU a message ` +
      `with the fast message id, ${us(without)} µs without (${(without / withFast).toFixed(2)}× as much)`,
  )
  console.log(
    JSON.stringify({
      bench: 'gossip',
      cpuMicrosPerMessage: us(withFast),
      withoutFastIdMicrosPerMessage: us(without),
      withoutVsWith: Number((without / withFast).toFixed(2)),
    }),
  )
}
