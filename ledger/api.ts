import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dashboardPage, serveDashboard } from '../node/host/dashboard.ts'
import { to0x } from '../protocol/bytes.ts'
import { epochAt, epochEnd, epochStart, graceEnd } from '../protocol/epoch.ts'
import type {
  Answer,
  capacityAnswer,
  certificateAnswer,
  epochAnswer,
  epochsAnswer,
  errorAnswer,
  healthAnswer,
  RelayLine,
  relayAnswer,
  relaysAnswer,
  rewardsAnswer,
  StoredTallyJson,
  tallyAnswer,
} from '../protocol/ledger-api.ts'
import { buildRewardsTree, hexProof, type RewardsTree } from '../protocol/merkle.ts'
import type { Address, NetworkDefinition } from '../protocol/network.ts'
import { peerIdFromString, peerIdToString } from '../protocol/peer.ts'
import type { Registry } from '../protocol/registry.ts'
import { type Certificate, decodeCertificate, decodeVote, sameRoot } from '../protocol/vote.ts'
import { CapacityEvidenceBook } from './capacity-evidence.ts'
import { leavesOf } from './epoch-tally.ts'
import type { Metrics } from './metrics.ts'
import type { LedgerStore, StoredCertificate } from './store.ts'

const PAGE = dashboardPage('ledger')

export interface ApiContext {
  network: NetworkDefinition
  store: LedgerStore
  metrics: Metrics
  registry(): Registry
  /** the lowest epoch whose certificate and tally are not both settled */
  nextToFinish(): number
  now(): number
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const MAX_URL = 2048
const MAX_LIST = 1000

/** A path or query number (`what` names it in the error): an epoch, or a count of epochs. */
function parseWhole(text: string, what: string): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) > 2 ** 32) {
    throw new HttpError(
      400,
      `${what} must be a whole number from 0 to 4294967296, got '${text.slice(0, 40)}'`,
    )
  }
  return Number(text)
}

function parseAddress(text: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) {
    throw new HttpError(400, `expected a 0x-prefixed 20-byte hex address, got '${text.slice(0, 60)}'`)
  }
  return text.toLowerCase() as Address
}

function parsePeerId(text: string): string {
  try {
    return peerIdToString(peerIdFromString(text))
  } catch {
    throw new HttpError(400, `expected an Ed25519 PeerId (12D3KooW…), got '${text.slice(0, 60)}'`)
  }
}

export function certificateJson(stored: StoredCertificate): Answer<typeof certificateAnswer> {
  const c = decodeCertificate(stored.bytes)
  return {
    net: c.net,
    epoch: c.epoch,
    contentRoot: to0x(c.contentRoot),
    rewardsRoot: to0x(c.rewardsRoot),
    cumulativeTotal: c.cumulativeTotal.toString(),
    signers: stored.signers,
    signatures: c.signatures.map(to0x),
    encoded: to0x(stored.bytes),
  }
}

/** The read-only HTTP API (JSON). Every error is `{ "error": "..." }` with a 4xx/5xx status. */
export class LedgerApi {
  private server: Server | undefined
  private treeCache: { epoch: number; tree: RewardsTree } | undefined
  private readonly evidence: CapacityEvidenceBook

  constructor(private readonly ctx: ApiContext) {
    this.evidence = new CapacityEvidenceBook(ctx.store)
  }

  /** Listens and returns the bound HOST:PORT. */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000 }, (req, res) => {
      if (!serveDashboard(req, res, PAGE)) void this.handle(req, res)
    })
    server.headersTimeout = 5_000
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Requests too malformed to route still get a JSON error, then the connection is dropped.
      if (!socket.writable) return socket.destroy()
      const [status, text] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout']
            : [400, 'Bad Request']
      const body = JSON.stringify({ error: text.toLowerCase() })
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      )
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    const a = server.address() as AddressInfo
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
  }

  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 200
    let body: string
    let type = 'application/json'
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET is supported')
      const length = Number(req.headers['content-length'] ?? 0)
      if (req.headers['transfer-encoding'] !== undefined || !(length >= 0) || length > 0) {
        throw new HttpError(413, 'requests carry no body')
      }
      const url = req.url ?? '/'
      if (url.length > MAX_URL) throw new HttpError(414, 'URL too long')
      // Every route answers JSON but /metrics, whose text the registry renders asynchronously.
      const route = await this.route(url)
      if (typeof route === 'string') {
        body = route
        type = this.ctx.metrics.registry.contentType
      } else body = JSON.stringify(route)
    } catch (err) {
      status = err instanceof HttpError ? err.status : 500
      const error: Answer<typeof errorAnswer> = {
        error: err instanceof HttpError ? err.message : 'internal error',
      }
      body = JSON.stringify(error)
      if (status === 500) console.error('api:', err)
    }
    this.ctx.metrics.apiRequests.inc({ status: String(status) })
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...(status === 405 ? { allow: 'GET, HEAD' } : {}),
      ...(status >= 400 ? { connection: 'close' } : {}),
    })
    res.end(req.method === 'HEAD' ? undefined : body)
    // A request we refused may still be sending a body: don't read it, drop the connection.
    if (status === 413 || status === 405) res.on('finish', () => req.socket.destroy())
  }

  private route(url: string): unknown {
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
    const parts = path.split('/').filter(p => p !== '')
    const [a, b, c] = parts
    if (parts.length > 3) throw new HttpError(404, 'no such route')
    if (a === 'healthz' && b === undefined) return this.health()
    if (a === 'metrics' && b === undefined) return this.ctx.metrics.render()
    if (a === 'epochs') {
      if (b === undefined) return this.epochs(query)
      if (b === 'latest' && c === 'certificate') return this.latestCertificate()
      const epoch = parseWhole(b, 'epoch')
      if (c === undefined) return this.epoch(epoch)
      if (c === 'tally') return this.tally(epoch)
      if (c === 'certificate') return this.certificate(epoch)
    }
    if (a === 'rewards' && b !== undefined && c === undefined) return this.rewards(parseAddress(b))
    if (a === 'relays') {
      if (b === undefined) return this.relays()
      if (c === undefined) return this.relay(parsePeerId(b))
      if (c === 'capacity') return this.capacity(parsePeerId(b))
    }
    throw new HttpError(404, 'no such route')
  }

  private health(): Answer<typeof healthAnswer> {
    const latest = this.ctx.store.latestCertificate()
    return {
      ok: true,
      network: this.ctx.network.id,
      currentEpoch: epochAt(this.ctx.network, this.ctx.now()),
      latestCertified: latest?.epoch ?? null,
    }
  }

  private status(epoch: number): 'open' | 'closing' | 'certified' {
    if (this.ctx.store.certificate(epoch)) return 'certified'
    return this.ctx.now() < graceEnd(this.ctx.network, epoch) ? 'open' : 'closing'
  }

  private summary(epoch: number) {
    const cert = this.ctx.store.certificate(epoch)
    const root = cert ? decodeCertificate(cert.bytes) : undefined
    return {
      epoch,
      status: this.status(epoch),
      ...this.ctx.store.counts(epoch),
      contentRoot: root ? to0x(root.contentRoot) : null,
      rewardsRoot: root ? to0x(root.rewardsRoot) : null,
    }
  }

  /** `?from=E&limit=N`; by default the newest 100 epochs up to the current one. */
  private epochs(query: URLSearchParams): Answer<typeof epochsAnswer> {
    const current = epochAt(this.ctx.network, this.ctx.now())
    const limitText = query.get('limit')
    const limit = limitText === null ? 100 : parseWhole(limitText, 'limit')
    if (limit < 1 || limit > MAX_LIST) throw new HttpError(400, `limit must be from 1 to ${MAX_LIST}`)
    const fromText = query.get('from')
    const from = fromText === null ? Math.max(0, current - limit + 1) : parseWhole(fromText, 'from')
    const epochs = []
    for (let e = from; e <= current && e < from + limit; e++) epochs.push(this.summary(e))
    return { currentEpoch: current, epochs }
  }

  private known(epoch: number): void {
    const current = epochAt(this.ctx.network, this.ctx.now())
    if (epoch > current) throw new HttpError(404, `epoch ${epoch} has not started (current is ${current})`)
  }

  private epoch(epoch: number): Answer<typeof epochAnswer> {
    this.known(epoch)
    const { network, store } = this.ctx
    const cert = store.certificate(epoch)
    const certified: Certificate | undefined = cert ? decodeCertificate(cert.bytes) : undefined
    return {
      ...this.summary(epoch),
      start: epochStart(network, epoch),
      end: epochEnd(network, epoch),
      graceEnd: graceEnd(network, epoch),
      votes: store.votes(epoch).map(v => {
        const vote = decodeVote(v.bytes)
        return {
          signer: v.signer,
          contentRoot: to0x(vote.contentRoot),
          rewardsRoot: to0x(vote.rewardsRoot),
          cumulativeTotal: vote.cumulativeTotal.toString(),
          matchesCertificate: certified ? sameRoot(vote, certified) : null,
        }
      }),
      equivocations: store.equivocations(epoch).map(e => ({
        relay: peerIdToString(e.relay),
        witness: peerIdToString(e.witness),
        items: [to0x(e.first), to0x(e.second)],
      })),
    }
  }

  private tally(epoch: number): Answer<typeof tallyAnswer> {
    this.known(epoch)
    const stored = this.ctx.store.tally(epoch)
    if (!stored) throw new HttpError(404, `epoch ${epoch} has not been tallied yet`)
    // Finished, as /rewards counts it: a tally that already matches a certificate the closer has not yet
    // adopted would otherwise read certified while /rewards still answers for the epoch before.
    return { certified: epoch < this.ctx.nextToFinish(), ...(JSON.parse(stored.json) as StoredTallyJson) }
  }

  private certificate(epoch: number): Answer<typeof certificateAnswer> {
    this.known(epoch)
    const cert = this.ctx.store.certificate(epoch)
    if (!cert) throw new HttpError(404, `epoch ${epoch} is not certified yet`)
    return certificateJson(cert)
  }

  private latestCertificate(): Answer<typeof certificateAnswer> {
    const cert = this.ctx.store.latestCertificate()
    if (!cert) throw new HttpError(404, 'no epoch is certified yet')
    return certificateJson(cert)
  }

  /** Cumulative amount and proof against the latest epoch whose certificate our tally matches. */
  private rewards(account: Address): Answer<typeof rewardsAnswer> {
    const epoch = this.ctx.nextToFinish() - 1
    if (epoch < 0) throw new HttpError(404, 'no epoch is certified yet')
    if (this.treeCache?.epoch !== epoch) {
      this.treeCache = { epoch, tree: buildRewardsTree(leavesOf(this.ctx.store.tally(epoch))) }
    }
    const tree = this.treeCache.tree
    const leaf = tree.leaves.find(l => l.account === account)
    const proof = tree.proof(account)
    if (!leaf || !proof) throw new HttpError(404, `no rewards for ${account} through epoch ${epoch}`)
    return {
      account,
      epoch,
      amount: leaf.amount.toString(),
      rewardsRoot: to0x(tree.root),
      proof: hexProof(proof),
    }
  }

  private relays(): Answer<typeof relaysAnswer> {
    const relays = [...this.ctx.registry().values()].map(r => {
      const peerId = peerIdToString(r.relay)
      const history = this.ctx.store.relayHistory(peerId)
      const last =
        history.length > 0 ? (JSON.parse(history[history.length - 1] as string) as RelayLine) : null
      return {
        peerId,
        payout: r.payout,
        addrs: r.record?.addrs ?? [],
        registeredIn: Number.isFinite(r.registeredIn) ? r.registeredIn : ('genesis' as const),
        lastScore: last ? { epoch: last.epoch, score: last.score, reward: last.reward } : null,
      }
    })
    return { relays }
  }

  /** The relay's attestations in the latest settled epoch, proven against its certificate. */
  private capacity(peerId: string): Answer<typeof capacityAnswer> {
    const epoch = this.ctx.nextToFinish() - 1
    if (epoch < 0) throw new HttpError(404, 'no epoch is certified yet')
    try {
      return this.evidence.answer(epoch, peerIdFromString(peerId))
    } catch (err) {
      throw new HttpError(503, (err as Error).message)
    }
  }

  private relay(peerId: string): Answer<typeof relayAnswer> {
    const key = Buffer.from(peerIdFromString(peerId)).toString('hex')
    const r = this.ctx.registry().get(key)
    const history = this.ctx.store.relayHistory(peerId).map(l => JSON.parse(l) as RelayLine)
    if (!r && history.length === 0) throw new HttpError(404, `relay ${peerId} is not registered`)
    return {
      peerId,
      payout: r?.payout ?? null,
      addrs: r?.record?.addrs ?? [],
      registeredIn: r ? (Number.isFinite(r.registeredIn) ? r.registeredIn : 'genesis') : null,
      history,
    }
  }
}
