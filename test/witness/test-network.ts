import { createLocalNetwork } from '../../node/host/local-network.ts'

/**
 * The network of a witness process test: one ledger member, one witness per relay, every relay eligible
 * from genesis, 4 s probe windows.
 */
export function witnessTestNetwork(
  out: string,
  timing: { witnesses: number; epochSeconds: number; graceSeconds: number },
) {
  return createLocalNetwork({
    out,
    ...timing,
    committee: 1,
    probeSeconds: 4,
    witnessesPerRelay: 1,
    minAttestations: 1,
    eligibilityDelay: 0,
    emission: 1000n,
    chainId: 31337,
    genesis: 0,
  })
}
