/** Ends a probe's passage through the gate: its relays are free for other probes again. */
export type Release = () => Promise<void>

/**
 * What each probe passes before it runs, holding its relays (target first, then helpers) until
 * released. A witness probing from its own host lets every probe through (openGate); witnesses that
 * share one machine take turns through a common gate (weir testnet's, in simulations/testnet/), so that
 * their probes never meet at a relay or compete for the CPU.
 */
export interface ProbeGate {
  /** Resolves once the probe may run; rejects if `signal` aborts first. */
  enter(relays: string[], signal: AbortSignal): Promise<Release>
}

export const openGate: ProbeGate = { enter: async () => async () => {} }
