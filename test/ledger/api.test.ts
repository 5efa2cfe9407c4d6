import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { to0x } from '../../protocol/bytes.ts'
import { epochEnd, epochStart, graceEnd } from '../../protocol/epoch.ts'
import { evidenceOf, verifyCapacityEvidence } from '../../protocol/certified-capacity.ts'
import { capacityAnswer, parseAnswer, type StoredTallyJson } from '../../protocol/ledger-api.ts'
import { decodeCertificate } from '../../protocol/vote.ts'
import {
  certify,
  ingestAttestations,
  type MemoryLedger,
  memoryLedger,
  rootOf,
  serveApi,
  tally,
  voteFrom,
} from './memory-ledger.ts'

// The HTTP API over an in-memory ledger, on loopback: epoch 0 certified (relay 0's assigned witnesses
// each equivocated, so it earns nothing), epoch 1 tallied with one vote and past its grace, epoch 2 open.

interface Answer {
  status: number
  type: string | null
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field
  body: any
}

async function start(m: MemoryLedger, nextToFinish: () => number) {
  const { api, url: base } = await serveApi(m, nextToFinish)
  const get = async (path: string, method = 'GET'): Promise<Answer> => {
    const res = await fetch(`${base}${path}`, { method })
    const text = await res.text()
    const type = res.headers.get('content-type')
    return { status: res.status, type, body: type === 'application/json' && text ? JSON.parse(text) : text }
  }
  return { api, base, get }
}

describe('ledger HTTP API', () => {
  let m: MemoryLedger
  let server: Awaited<ReturnType<typeof start>>
  /** the closer's next epoch to finish, as the ledger would report it */
  let nextToFinish = 1
  const get = (path: string, method?: string) => server.get(path, method)

  before(async () => {
    m = memoryLedger()
    await ingestAttestations(m, 0)
    await ingestAttestations(m, 0, { relays: m.t.relays.slice(0, 1), variant: 1 })
    certify(m, 0)
    await ingestAttestations(m, 1)
    voteFrom(m, m.t.members[1] as (typeof m.t.members)[number], rootOf(m.network, tally(m, 1)))
    m.clock.ms = graceEnd(m.network, 1) + 1000
    server = await start(m, () => nextToFinish)
  })

  after(async () => {
    await server?.api.close()
    m?.store.close()
  })

  it('GET /healthz: the network, the current epoch and the latest certified one', async () => {
    assert.deepEqual(await get('/healthz'), {
      status: 200,
      type: 'application/json',
      body: { ok: true, network: 'ledger-unit', currentEpoch: 2, latestCertified: 0 },
    })
  })

  it('GET /epochs: a summary of each epoch up to the current one, its status and certified roots', async () => {
    const { status, body } = await get('/epochs')
    assert.equal(status, 200)
    const cert = decodeCertificate(m.store.certificate(0)?.bytes as Uint8Array)
    assert.deepEqual(body, {
      currentEpoch: 2,
      epochs: [
        {
          epoch: 0,
          status: 'certified',
          attestations: m.store.counts(0).attestations,
          relayRecords: 0,
          contentRoot: to0x(cert.contentRoot),
          rewardsRoot: to0x(cert.rewardsRoot),
        },
        {
          epoch: 1,
          status: 'closing',
          attestations: m.store.counts(1).attestations,
          relayRecords: 0,
          contentRoot: null,
          rewardsRoot: null,
        },
        { epoch: 2, status: 'open', attestations: 0, relayRecords: 0, contentRoot: null, rewardsRoot: null },
      ],
    })
    const page = await get('/epochs?from=1&limit=1')
    assert.deepEqual(
      page.body.epochs.map((e: { epoch: number }) => e.epoch),
      [1],
    )
    const newest = await get('/epochs?limit=2')
    assert.deepEqual(
      newest.body.epochs.map((e: { epoch: number }) => e.epoch),
      [1, 2],
    )
  })

  it("GET /epochs/:e: the summary, the epoch's times, its votes and its equivocations", async () => {
    const { status, body } = await get('/epochs/0')
    assert.equal(status, 200)
    assert.equal(body.status, 'certified')
    assert.deepEqual(
      [body.start, body.end, body.graceEnd],
      [epochStart(m.network, 0), epochEnd(m.network, 0), graceEnd(m.network, 0)],
    )
    assert.deepEqual(
      body.votes.map((v: { signer: string; matchesCertificate: boolean }) => [
        v.signer,
        v.matchesCertificate,
      ]),
      m.t.members
        .slice(1)
        .map(s => [s.signer, true])
        .sort(),
    )
    assert.deepEqual(Object.keys(body.votes[0]).sort(), [
      'contentRoot',
      'cumulativeTotal',
      'matchesCertificate',
      'rewardsRoot',
      'signer',
    ])
    assert.equal(
      body.equivocations.length,
      m.network.witnessesPerRelay,
      'each assigned witness claimed twice',
    )
    const e = body.equivocations[0]
    assert.equal(e.relay, m.t.relays[0]?.text)
    assert.ok(m.network.witnesses.includes(e.witness))
    assert.equal(e.items.length, 2)

    const open = await get('/epochs/1')
    assert.equal(open.body.status, 'closing')
    assert.deepEqual(
      open.body.votes.map((v: { signer: string; matchesCertificate: null }) => [
        v.signer,
        v.matchesCertificate,
      ]),
      [[m.t.members[1]?.signer, null]],
    )
  })

  it("GET /epochs/:e/tally: the tally's JSON, and whether this ledger has finished the epoch", async () => {
    nextToFinish = 0
    const adopting = await get('/epochs/0/tally')
    nextToFinish = 1
    assert.equal(adopting.body.certified, false, 'matches the certificate, but /rewards is not there yet')
    const certified = await get('/epochs/0/tally')
    assert.equal(certified.status, 200)
    const cert = decodeCertificate(m.store.certificate(0)?.bytes as Uint8Array)
    assert.equal(certified.body.certified, true)
    assert.equal(certified.body.rewardsRoot, to0x(cert.rewardsRoot))
    assert.equal(certified.body.equivocations, m.network.witnessesPerRelay)
    assert.equal(certified.body.relays.length, m.t.relays.length - 1, 'relay 0 counts for nothing')
    assert.deepEqual(Object.keys(certified.body.relays[0]).sort(), [
      'capacities',
      'epoch',
      'payout',
      'peerId',
      'reward',
      'score',
    ])
    const uncertified = await get('/epochs/1/tally')
    assert.equal(uncertified.status, 200)
    assert.equal(uncertified.body.certified, false)
    assert.deepEqual(await get('/epochs/2/tally'), {
      status: 404,
      type: 'application/json',
      body: { error: 'epoch 2 has not been tallied yet' },
    })
  })

  it('GET /epochs/:e/certificate and /epochs/latest/certificate: roots, signers, signatures and the encoding', async () => {
    const { status, body } = await get('/epochs/0/certificate')
    assert.equal(status, 200)
    const held = m.store.certificate(0)
    assert.ok(held)
    const cert = decodeCertificate(held.bytes)
    assert.deepEqual(body, {
      net: m.network.id,
      epoch: 0,
      contentRoot: to0x(cert.contentRoot),
      rewardsRoot: to0x(cert.rewardsRoot),
      cumulativeTotal: cert.cumulativeTotal.toString(),
      signers: held.signers,
      signatures: cert.signatures.map(to0x),
      encoded: to0x(held.bytes),
    })
    assert.equal(body.signers.length, m.network.quorum)
    assert.deepEqual((await get('/epochs/latest/certificate')).body, body)
    assert.deepEqual((await get('/epochs/1/certificate')).body, { error: 'epoch 1 is not certified yet' })
  })

  it('GET /rewards/:account: the cumulative amount and a proof OpenZeppelin verifies', async () => {
    const account = m.t.relays[1]?.payout as string
    const { status, body } = await get(`/rewards/${account.toUpperCase().replace('0X', '0x')}`)
    assert.equal(status, 200)
    const leaves = JSON.parse(m.store.tally(0)?.json as string).leaves as {
      account: string
      amount: string
    }[]
    const amount = leaves.find(l => l.account === account)?.amount
    assert.ok(amount && BigInt(amount) > 0n)
    assert.deepEqual(
      { account: body.account, epoch: body.epoch, amount: body.amount },
      { account, epoch: 0, amount },
    )
    assert.equal(
      body.rewardsRoot,
      to0x(decodeCertificate(m.store.certificate(0)?.bytes as Uint8Array).rewardsRoot),
    )
    assert.ok(
      StandardMerkleTree.verify(body.rewardsRoot, ['address', 'uint256'], [account, amount], body.proof),
    )
    const nobody = `0x${'00'.repeat(19)}ff`
    assert.deepEqual(await get(`/rewards/${nobody}`), {
      status: 404,
      type: 'application/json',
      body: { error: `no rewards for ${nobody} through epoch 0` },
    })
  })

  it('GET /relays and /relays/:peerId: registered relays, their last score and their history', async () => {
    const { status, body } = await get('/relays')
    assert.equal(status, 200)
    assert.deepEqual(
      body.relays.map((r: { peerId: string }) => r.peerId).sort(),
      m.t.relays.map(r => r.text).sort(),
    )
    const relay = m.t.relays[1]
    const listed = body.relays.find((r: { peerId: string }) => r.peerId === relay?.text)
    assert.deepEqual(
      { ...listed, lastScore: Object.keys(listed.lastScore).sort() },
      {
        peerId: relay?.text,
        payout: relay?.payout,
        addrs: [],
        registeredIn: 'genesis',
        lastScore: ['epoch', 'reward', 'score'],
      },
    )
    assert.equal(listed.lastScore.epoch, 1)
    const one = await get(`/relays/${relay?.text}`)
    assert.equal(one.status, 200)
    assert.deepEqual(
      one.body.history.map((l: { epoch: number }) => l.epoch),
      [0, 1],
    )
    assert.deepEqual(
      { peerId: one.body.peerId, payout: one.body.payout, registeredIn: one.body.registeredIn },
      { peerId: relay?.text, payout: relay?.payout, registeredIn: 'genesis' },
    )
    const stranger = m.t.members[0]?.party.text
    assert.deepEqual((await get(`/relays/${stranger}`)).body, {
      error: `relay ${stranger} is not registered`,
    })
  })

  it("GET /relays/:peerId/capacity: each relay's attestations in the settled epoch, proven; the tally's score verifies", async () => {
    const tallied = JSON.parse((m.store.tally(0) as { json: string }).json) as StoredTallyJson
    for (const relay of m.t.relays) {
      const { status, body } = await get(`/relays/${relay.text}/capacity`)
      assert.equal(status, 200)
      assert.equal(body.epoch, 0)
      assert.equal(body.seedCertificate, null)
      const answer = parseAnswer(capacityAnswer, body, 'test')
      const verdict = verifyCapacityEvidence(m.network, evidenceOf(relay.peerId, answer), 0)
      assert.ok(verdict.ok, verdict.ok ? '' : verdict.reason)
      const line = tallied.relays.find(l => l.peerId === relay.text)
      assert.equal(verdict.score, line?.score ?? 0, relay.text)
    }
    // relay 0's witnesses equivocated: every attestation is shown, and none counts
    const equivocated = await get(`/relays/${m.t.relays[0]?.text}/capacity`)
    assert.equal(equivocated.body.attestations.length, 2 * m.network.witnessesPerRelay)
    assert.equal((await get('/relays/nope/capacity')).status, 400)
  })

  it('GET /relays/:peerId/capacity answers 404 before any epoch is settled', async () => {
    const early = await start(m, () => 0)
    try {
      assert.deepEqual((await early.get(`/relays/${m.t.relays[1]?.text}/capacity`)).body, {
        error: 'no epoch is certified yet',
      })
    } finally {
      await early.api.close()
    }
  })

  it('GET /metrics: Prometheus text, requests counted by status', async () => {
    await get('/nowhere')
    const { status, type, body } = await get('/metrics')
    assert.equal(status, 200)
    assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8')
    assert.match(body, /^weir_ledger_api_requests_total\{status="200"\} \d+$/m)
    assert.match(body, /^weir_ledger_api_requests_total\{status="404"\} \d+$/m)
  })

  it('HEAD answers like GET, without the body', async () => {
    const head = await get('/healthz', 'HEAD')
    assert.deepEqual(head, { status: 200, type: 'application/json', body: '' })
  })

  it('answers 404 with a reason for what does not exist', async () => {
    const cases: [string, string][] = [
      ['/epochs/3', 'epoch 3 has not started (current is 2)'],
      ['/epochs/999999/tally', 'epoch 999999 has not started (current is 2)'],
      ['/epochs/3/certificate', 'epoch 3 has not started (current is 2)'],
      ['/epochs/1/nope', 'no such route'],
      ['/epochs/0/tally/more', 'no such route'],
      ['/%00%ff/../../etc/passwd', 'no such route'],
      [
        '/relays/12D3KooWRAan89mcVWSHxezuu4znaBP7Gzxiu7co2FzPBzhorheU',
        'relay 12D3KooWRAan89mcVWSHxezuu4znaBP7Gzxiu7co2FzPBzhorheU is not registered',
      ],
    ]
    for (const [path, error] of cases) {
      assert.deepEqual(await get(path), { status: 404, type: 'application/json', body: { error } }, path)
    }
  })

  it('answers 400 naming the parameter and what it expects', async () => {
    const cases: [string, RegExp][] = [
      ['/epochs/99999999999', /^epoch must be a whole number from 0 to 4294967296, got '99999999999'$/],
      ['/epochs/4294967297', /^epoch must be a whole number/],
      ['/epochs/-1', /^epoch must be a whole number.*got '-1'$/],
      ['/epochs/1e3', /^epoch must be a whole number.*got '1e3'$/],
      ['/epochs/0x10/tally', /^epoch must be a whole number.*got '0x10'$/],
      ['/epochs/latest', /^epoch must be a whole number.*got 'latest'$/],
      ['/epochs?limit=0', /^limit must be from 1 to 1000$/],
      ['/epochs?limit=1001', /^limit must be from 1 to 1000$/],
      ['/epochs?limit=abc', /^limit must be a whole number.*got 'abc'$/],
      ['/epochs?from=-2', /^from must be a whole number.*got '-2'$/],
      ['/rewards/0x1234', /^expected a 0x-prefixed 20-byte hex address, got '0x1234'$/],
      ['/rewards/0xZZ00000000000000000000000000000000000000', /^expected a 0x-prefixed 20-byte hex address/],
      ['/relays/not-a-peer', /^expected an Ed25519 PeerId \(12D3KooW…\), got 'not-a-peer'$/],
    ]
    for (const [path, error] of cases) {
      const answer = await get(path)
      assert.equal(answer.status, 400, path)
      assert.match(answer.body.error, error, path)
    }
  })

  it('refuses what is not a plain GET with a JSON error, and keeps answering', async () => {
    assert.deepEqual(await get(`/epochs/${'9'.repeat(3000)}`), {
      status: 414,
      type: 'application/json',
      body: { error: 'URL too long' },
    })
    const raw: [string, number, string][] = [
      [
        `POST /epochs HTTP/1.1\r\nhost: x\r\ncontent-length: 1048576\r\n\r\n${'x'.repeat(65536)}`,
        405,
        'only GET is supported',
      ],
      ['GET /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello', 413, 'requests carry no body'],
      [
        'GET /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        413,
        'requests carry no body',
      ],
      ['\u0000\u0001\u00ff garbage\r\n\r\n', 400, 'bad request'],
      [
        `GET /healthz HTTP/1.1\r\nhost: x\r\nx-junk: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
        431,
        'request header fields too large',
      ],
    ]
    for (const [request, status, error] of raw) {
      const answer = await rawRequest(server.base, request)
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `), request.slice(0, 40))
      assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { error })
    }
    assert.equal((await get('/healthz')).status, 200)
  })

  describe('before any epoch is certified', () => {
    let empty: MemoryLedger
    let bare: Awaited<ReturnType<typeof start>>
    before(async () => {
      empty = memoryLedger()
      empty.clock.ms = epochStart(empty.network, 0) + 1000
      bare = await start(empty, () => 0)
    })
    after(async () => {
      await bare?.api.close()
      empty?.store.close()
    })

    it('has no latest certificate and no rewards yet', async () => {
      assert.deepEqual((await bare.get('/healthz')).body.latestCertified, null)
      assert.deepEqual(await bare.get('/epochs/latest/certificate'), {
        status: 404,
        type: 'application/json',
        body: { error: 'no epoch is certified yet' },
      })
      const account = empty.t.relays[0]?.payout
      assert.deepEqual((await bare.get(`/rewards/${account}`)).body, { error: 'no epoch is certified yet' })
      assert.deepEqual((await bare.get('/epochs/0')).body.status, 'open')
    })
  })
})

/** Sends raw bytes to the API and returns everything it answers before closing. */
function rawRequest(base: string, request: string): Promise<string> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(Number(url.port), url.hostname, () => socket.end(request, 'latin1'))
    socket.on('data', d => chunks.push(d))
    socket.on('error', err =>
      chunks.length > 0 ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(err),
    )
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
  })
}
