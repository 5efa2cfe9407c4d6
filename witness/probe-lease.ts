/** Holds a lease until called. */
export type Release = () => Promise<void>

/**
 * Takes a lease on the relays of one probe from a testnet's lease server (simulations/testnet/probe-leases.ts),
 * waiting until it is granted or `signal` aborts. Witnesses sharing one machine use it so that their
 * probes never meet at a relay and do not compete for the CPU.
 */
export async function takeLease(url: string, relays: string[], signal: AbortSignal): Promise<Release> {
  const response = await fetch(new URL('/lease', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ relays }),
    signal,
  })
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} for a probe lease`)
  const { id } = (await response.json()) as { id: string }
  return async () => {
    await fetch(new URL(`/lease/${id}`, url), { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(
      () => {},
    )
  }
}
