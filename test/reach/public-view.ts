// What a host on the emulated Internet's public segment sees of a network, run inside its namespace by
// test/reach/reachability.test.ts: the relays the DHT names as providers of the network's rendezvous key
// (with the addresses the DHT gives for them), and whether each address it is given answers a libp2p dial
// and ping from here (punching through NATs with the STUN servers given). Prints one JSON line.
//   node --import tsx public-view.ts NETWORK_ID BOOTSTRAP PROVIDERS_EXPECTED STUN,STUN [ADDRESS...]
import '../../node/host/runtime.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createDialer, createHost } from '../../node/host/host.ts'
import { rendezvousKey } from '../../node/network/directory.ts'
import { waitFor } from '../helpers/wait.ts'

const [networkId, bootstrap, expected, stun, ...addresses] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
]
const punching = { stunServers: stun.split(',') }
const host = await createHost({
  networkId,
  privateKey: await generateKeyPair('Ed25519'),
  listen: [],
  bootstrap: [bootstrap],
  local: false,
  stunServers: punching.stunServers,
})
const key = await rendezvousKey(networkId)

async function providers(): Promise<{ peer: string; addrs: string[] }[]> {
  const found = new Map<string, string[]>()
  for await (const p of host.contentRouting.findProviders(key, { signal: AbortSignal.timeout(5000) }))
    found.set(p.id.toString(), p.multiaddrs.map(String))
  return [...found].map(([peer, addrs]) => ({ peer, addrs }))
}

// a provider record reaches the DHT a little after the relay's record: look until all are there, or
// for at most 30 s, and then tell what was seen (the test judges it)
let seen: { peer: string; addrs: string[] }[] = []
await waitFor(
  async () => {
    seen = await providers()
    return seen.length >= Number(expected)
  },
  { what: `${expected} providers of the rendezvous key`, timeoutMs: 30_000, intervalMs: 1000 },
).catch(() => {})

/**
 * A fresh node dials the address itself (the DHT host may be connected to the peer already), up to 3
 * times with 15 s each: in two full `npm test` runs a punched dial timed out once while three suites
 * shared the machine, and a peer on the Internet would dial again too. Every attempt is reported.
 */
async function answers(address: string): Promise<{ address: string; ok: boolean; errors: string[] }> {
  const errors: string[] = []
  for (let attempt = 0; attempt < 3; attempt++) {
    const dialer = await createDialer(await generateKeyPair('Ed25519'), punching)
    try {
      await dialer.services.ping.ping(multiaddr(address), { signal: AbortSignal.timeout(15_000) })
      return { address, ok: true, errors }
    } catch (err) {
      errors.push((err as Error).message)
    } finally {
      await dialer.stop()
    }
  }
  return { address, ok: false, errors }
}

const dialled = []
const withPeer = (a: string, peer: string) => (a.endsWith(`/p2p/${peer}`) ? a : `${a}/p2p/${peer}`)
for (const address of new Set([...addresses, ...seen.flatMap(p => p.addrs.map(a => withPeer(a, p.peer)))]))
  dialled.push(await answers(address))
console.log(JSON.stringify({ providers: seen, dialled }))
await host.stop()
process.exit(0)
