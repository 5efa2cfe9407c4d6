// A witness of weir testnet: the witness role as `weir witness` runs it (witness/role.ts), whose probes
// take turns through the run's probe leases. The testnet's Supervisor starts it with its options as one
// JSON argument; like every role it prints its ready line first and stops on SIGTERM.
import '../../node/host/runtime.ts'
import { startWitnessRole, type WitnessRoleOptions } from '../../witness/role.ts'
import { leaseGate } from './probe-leases.ts'

export interface WitnessProcessOptions extends Omit<WitnessRoleOptions, 'gate' | 'log'> {
  /** the run's ProbeLeases */
  leases: string
}

const { leases, ...options } = JSON.parse(process.argv[2] ?? '{}') as WitnessProcessOptions
const stopRequested = new Promise(resolve => {
  process.once('SIGINT', resolve)
  process.once('SIGTERM', resolve)
})
const witness = await startWitnessRole({
  ...options,
  gate: leaseGate(leases),
  log: line => console.error(`weir witness: ${line}`),
})
console.log(JSON.stringify(witness.info))
await stopRequested
await witness.stop()
