import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Candidate, chooseRelays } from './circuit-choice.ts'
import { createDialer, type Host, peerIdOfAddress } from '../host/host.ts'
import type { Logger } from '../host/log.ts'
import type { RelayHealth } from './relay-health.ts'
import type { ProxySession } from './session.ts'
import { type SocksConnect, SocksReply, type SocksTarget, type Traffic } from './socks5.ts'
import { openCircuit, type RelayRef, TunnelRefusedError } from '../tunnel/client.ts'
import { type ReplyCode, socksReply } from '../tunnel/wire.ts'
import { exitAllows } from '../../protocol/record.ts'

export interface FailoverLimits {
  /** Circuits tried per connection before it fails. */
  attempts: number
  /** Bound on reaching a circuit's first relay (dial, encryption, multiplexing). */
  reachMs: number
  /** Bound on all attempts together, the relays' connections to the target included. */
  deadlineMs: number
}

export const DEFAULT_FAILOVER: FailoverLimits = { attempts: 3, reachMs: 3_000, deadlineMs: 10_000 }

export interface ProxyRouteOptions {
  host: Host
  networkId: string
  hops: number
  /** The relays to choose among, asked afresh for every connection. */
  candidates: () => Candidate[]
  /** Relays the user named, by PeerId: dialled at the address given. */
  pinned?: Map<string, Multiaddr>
  health: RelayHealth
  session: ProxySession
  log: Logger
  limits?: FailoverLimits
  random?: () => number
}

/** Why one attempt failed: the reply it stands for, and whether another circuit may do better. */
interface AttemptFailure {
  reply: SocksReply
  reason: string
  /** The relay to blame (backed off, and not tried again for this connection). */
  blame?: string
  /** A relay not to try again for this connection, without blaming it (its exit policy said no). */
  avoid?: string
  retry: boolean
}

/**
 * The `connect` of `weir proxy`'s listeners: each connection gets its own circuit through `hops` relays
 * chosen by measured capacity among those not backed off. When a relay fails before the tunnel is open
 * (unreachable, busy, broken), the connection is retried on other relays within `limits`, before the
 * client gets any reply; the target's own answers (refused, unreachable, timed out) are final. The reply
 * of the last attempt says why a connection failed.
 */
export function circuitConnect(options: ProxyRouteOptions): SocksConnect {
  const { host, networkId, hops, health, session, log } = options
  const limits = options.limits ?? DEFAULT_FAILOVER
  const refOf = (peerId: string): RelayRef => options.pinned?.get(peerId) ?? peerIdFromString(peerId)

  return async (target, signal) => {
    const deadline = withDeadline(signal, limits.deadlineMs)
    try {
      return await tryCircuits(target, signal, deadline.signal)
    } finally {
      deadline.clear()
    }
  }

  async function tryCircuits(target: SocksTarget, signal: AbortSignal, deadline: AbortSignal) {
    const excluded = new Set<string>()
    let failure: AttemptFailure = {
      reply: SocksReply.NetworkUnreachable,
      reason: `no ${hops === 1 ? 'relay' : `${hops} relays`} known`,
      retry: false,
    }
    for (let attempt = 0; attempt < limits.attempts; attempt++) {
      const candidates = options.candidates()
      const exits = candidates.filter(
        c => c.exits === undefined || exitAllows(c.exits, target.port, familyOf(target)),
      )
      if (candidates.length >= hops && exits.length === 0) {
        failure = {
          reply: SocksReply.NotAllowed,
          reason: `no relay's exit policy allows ${familyOf(target) === 6 ? 'IPv6 to ' : familyOf(target) === 4 ? 'IPv4 to ' : ''}port ${target.port}`,
          retry: false,
        }
        break
      }
      const relays = pick(candidates, exits, excluded, hops, health, options.random)
      if (relays === undefined) break
      try {
        await host.dial(refOf(relays[0] as string), {
          signal: AbortSignal.any([deadline, AbortSignal.timeout(limits.reachMs)]),
        })
        const stream = await openCircuit(host, networkId, relays.map(refOf), target, { signal: deadline })
        for (const peerId of relays) health.succeeded(peerId)
        const connection = session.opened(relays)
        stream.once('close', () => connection.close())
        return { ok: true as const, stream, track: (traffic: Traffic) => connection.track(traffic) }
      } catch (err) {
        if (signal.aborted)
          return { ok: false as const, reply: SocksReply.GeneralFailure, reason: 'client left' }
        failure = deadline.aborted
          ? { reply: SocksReply.TtlExpired, reason: `no tunnel within ${limits.deadlineMs} ms`, retry: false }
          : judge(err, relays)
        if (failure.blame !== undefined) {
          const backOffMs = health.failed(failure.blame)
          session.relayFailed(failure.blame, failure.reason)
          log.warn('relay failed; skipping it for a while', {
            relay: failure.blame,
            reason: failure.reason,
            skipMs: backOffMs,
          })
          excluded.add(failure.blame)
        }
        if (failure.avoid !== undefined) excluded.add(failure.avoid)
        if (!failure.retry) break
      }
    }
    const where = targetText(target)
    session.connectionFailed(where, failure.reason)
    log.info('connection failed', { target: where, reason: failure.reason, reply: failure.reply })
    return { ok: false as const, reply: failure.reply, reason: failure.reason }
  }
}

/**
 * An abort signal that follows `signal` and fires after `ms`, until cleared: cleared once a tunnel is
 * open, so nothing that kept the signal can cut the tunnel later.
 */
function withDeadline(signal: AbortSignal, ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController()
  const follow = () => controller.abort(signal.reason)
  if (signal.aborted) follow()
  else signal.addEventListener('abort', follow, { once: true })
  const timer = setTimeout(() => controller.abort(new Error(`no tunnel within ${ms} ms`)), ms)
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', follow)
    },
  }
}

/**
 * A circuit among the candidates not excluded for this connection, its exit (the last relay) among those
 * whose advertised policy allows the target, preferring relays not backed off; a relay still backed off
 * is used only when too few others remain (it may be back, and no circuit is sure to fail).
 */
function pick(
  candidates: Candidate[],
  exits: Candidate[],
  excluded: Set<string>,
  hops: number,
  health: RelayHealth,
  random?: () => number,
): string[] | undefined {
  const usable = (list: Candidate[], wanted: number) => {
    const open = list.filter(c => !excluded.has(c.peerId))
    const healthy = open.filter(c => !health.skipped(c.peerId))
    return healthy.length >= wanted ? healthy : open
  }
  const exitPool = usable(exits, 1)
  if (exitPool.length === 0) return undefined
  const [exit] = chooseRelays(exitPool, 1, random) as [string]
  const rest = usable(
    candidates.filter(c => c.peerId !== exit),
    hops - 1,
  )
  return rest.length >= hops - 1 ? [...chooseRelays(rest, hops - 1, random), exit] : undefined
}

/** The address family of a target given as an address; undefined for a name (resolved at the exit). */
function familyOf(target: SocksTarget): 4 | 6 | undefined {
  return target.addressType === 'ipv4' ? 4 : target.addressType === 'ipv6' ? 6 : undefined
}

/** Relay codes that speak of the target (final), of the exit's policy (try another exit), or of the relay. */
const TARGET_CODES: ReplyCode[] = ['refused', 'unreachable', 'unresolvable', 'timeout', 'bad-request']
const POLICY_CODES: ReplyCode[] = ['policy', 'port']

function judge(err: unknown, relays: string[]): AttemptFailure {
  if (!(err instanceof TunnelRefusedError)) {
    const reason = `relay unreachable: ${(err as Error).message}`
    return { reply: SocksReply.NetworkUnreachable, reason, blame: relays[0], retry: true }
  }
  const reply = socksReply(err.code) as SocksReply
  const reason = `relay ${err.hop + 1} answered ${err.code}`
  if (TARGET_CODES.includes(err.code)) return { reply, reason, retry: false }
  if (POLICY_CODES.includes(err.code)) return { reply, reason, avoid: relays.at(-1), retry: true }
  // 'hop-failed' is the answering relay's word that the next one failed
  const blame = relays[err.code === 'hop-failed' ? err.hop + 1 : err.hop]
  return { reply, reason, blame, retry: true }
}

function targetText(target: SocksTarget): string {
  return target.addressType === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
}

/** The PeerId a `--relay` address ends in. */
export function peerOf(addr: Multiaddr): string {
  const id = peerIdOfAddress(addr)
  if (id === undefined) throw new RangeError(`relay address ${addr} has no /p2p/<peerId>`)
  return id
}

/**
 * Asks a relay which Weir network it serves (from the protocols it announces through identify), so
 * `weir proxy` needs nothing but a relay's address. Uses a throwaway identity and host.
 */
export async function learnNetworkId(
  relay: Multiaddr,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const probe = await createDialer(await generateKeyPair('Ed25519'))
  try {
    const protocols = await new Promise<string[]>((resolve, reject) => {
      probe.addEventListener('peer:identify', evt => resolve(evt.detail.protocols))
      options.signal?.addEventListener('abort', () => reject(options.signal?.reason))
      probe.dial(relay, options).catch(reject)
    })
    for (const protocol of protocols) {
      const m = /^\/weir\/([^/]+)\/tunnel\/1\.0\.0$/.exec(protocol)
      if (m?.[1]) return m[1]
    }
    throw new Error(`${relay} is not a Weir relay (it announces no /weir/<net>/tunnel protocol)`)
  } finally {
    await probe.stop()
  }
}
