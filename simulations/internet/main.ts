// `npm run internet` (as root): builds the standard emulated Internet, prints where everything is and
// how to run a command inside it, and removes it all on Ctrl-C.
import { EmulatedInternet, STANDARD_PLAN } from './internet.ts'
import { STUN_PORT, startStunServer } from './stun-server.ts'

if (process.getuid?.() !== 0) {
  console.error('npm run internet: network namespaces need root (run it with sudo)')
  process.exit(2)
}
// Handlers first: a Ctrl-C during the build must still end in close(), not leave namespaces behind.
const stop = new Promise<void>(resolve => {
  process.once('SIGINT', resolve)
  process.once('SIGTERM', resolve)
})
const net = await EmulatedInternet.build(STANDARD_PLAN)
const stun = ['stun-1', 'stun-2'].map(name => net.machine(name))
try {
  for (const m of stun) await startStunServer(m.address, (c, a) => m.ns.spawn(c, a))
} catch (err) {
  await net.close()
  throw err
}
const rows = [...net.machines.values()].map(m => {
  const router = [...net.routers.values()].find(r => m.address.startsWith(r.lanAddress.replace(/1$/, '')))
  const behind = router ? `behind ${router.nat} NAT at ${router.address}` : 'public'
  return `  ${m.name.padEnd(16)} ${m.address.padEnd(14)} ${behind.padEnd(34)} ${m.ns.name}`
})
console.log(
  [
    'the emulated Internet is up (no link to this machine, no route out):',
    ...rows,
    '',
    `STUN servers for --stun:     ${stun.map(m => `${m.address}:${STUN_PORT}`).join(' ')}`,
    `run a command on a machine:  ip netns exec ${net.machine('relay-upnp').ns.name} <command>`,
    'Ctrl-C removes every namespace.',
  ].join('\n'),
)
await stop
await net.close()
console.log('removed')
