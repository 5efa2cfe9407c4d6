import type { Logger } from '../node/host/log.ts'
import * as v from 'valibot'
import type { Address, Hex } from 'viem'
import { type AnchorResult, anchorEpoch, readRewards } from '../contracts/client.ts'
import { to0x } from '../protocol/bytes.ts'
import { certificateAnswer, errorAnswer, parseAnswer, rewardsAnswer } from '../protocol/ledger-api.ts'
import { type Certificate, decodeCertificate } from '../protocol/vote.ts'

export interface ChainTarget {
  rpcUrl: string
  rewards: Address
  /** 0x secret key of the account that pays for submissions */
  key: Hex
}

export function certificateForChain(cert: Certificate) {
  return {
    epoch: cert.epoch,
    contentRoot: to0x(cert.contentRoot),
    rewardsRoot: to0x(cert.rewardsRoot),
    cumulativeTotal: cert.cumulativeTotal,
    signatures: cert.signatures.map(to0x),
  }
}

/**
 * Anchors certified epochs in order, from the contract's next epoch on, as long as `certificate(epoch)`
 * has one. Anyone holding certificates may do this; the chain accepts the first valid submission and
 * anchorEpoch counts one already anchored as success, so several anchorers never conflict.
 */
export async function anchorCertified(
  target: ChainTarget,
  certificate: (epoch: number) => Promise<Certificate | undefined> | Certificate | undefined,
): Promise<{ epoch: number; result: AnchorResult }[]> {
  const done: { epoch: number; result: AnchorResult }[] = []
  let next = Number((await readRewards(target)).nextEpoch)
  for (;;) {
    const cert = await certificate(next)
    if (!cert) return done
    done.push({
      epoch: next,
      result: await anchorEpoch({ ...target, certificate: certificateForChain(cert) }),
    })
    next++
  }
}

/** Fetches an epoch's certificate (or the latest) from a ledger's API; undefined when not certified. */
export async function fetchCertificate(ledgerUrl: string, epoch?: number): Promise<Certificate | undefined> {
  const path = epoch === undefined ? 'latest' : String(epoch)
  const response = await fetch(new URL(`/epochs/${path}/certificate`, ledgerUrl), {
    signal: AbortSignal.timeout(10_000),
  })
  if (response.status === 404) return undefined
  if (!response.ok)
    throw new Error(`${ledgerUrl}: HTTP ${response.status} for the certificate of epoch ${path}`)
  return decodeCertificate(parseAnswer(certificateAnswer, await response.json(), ledgerUrl).encoded)
}

/** A ledger's view of what an account is owed, with the proof to claim it. */
export async function fetchRewards(ledgerUrl: string, account: Address) {
  const response = await fetch(new URL(`/rewards/${account.toLowerCase()}`, ledgerUrl), {
    signal: AbortSignal.timeout(10_000),
  })
  const body: unknown = await response.json()
  if (!response.ok) {
    const refused = v.safeParse(errorAnswer, body)
    throw new Error(`${ledgerUrl}: ${refused.success ? refused.output.error : `HTTP ${response.status}`}`)
  }
  const { epoch, amount, proof } = parseAnswer(rewardsAnswer, body, ledgerUrl)
  return { epoch, amount, proof }
}

/** Anchors newly certified epochs every `intervalMs` until stopped; failures are logged and retried. */
export function startAnchoring(
  target: ChainTarget,
  certificate: (epoch: number) => Certificate | undefined,
  log: Logger,
  intervalMs = 2000,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    running = running
      .then(() => anchorCertified(target, certificate))
      .then(done => {
        log.resolved('anchoring', 'anchoring works again')
        for (const { epoch, result } of done) {
          log.info(`anchored epoch ${epoch}${result.alreadyAnchored ? ' (already on chain)' : ''}`, {
            tx: result.alreadyAnchored ? undefined : result.txHash,
          })
        }
      })
      .catch(err =>
        log.problem(
          'anchoring',
          `anchoring failed: ${(err as Error).message.split('\n')[0]}`,
          "check that --rpc answers, that --contract is the network's rewards contract and that --anchor-key has funds for gas; it is retried",
        ),
      )
  }, intervalMs)
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
