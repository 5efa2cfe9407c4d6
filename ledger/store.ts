import Database from 'better-sqlite3'

// The ledger's durable state in one SQLite file (WAL). synchronous=FULL: a commit returns only once
// the WAL is fsynced, so what we acknowledge survives power loss, not just a killed process. Ingest
// commits in groups (ledger/ingest.ts), so the fsync is paid once per batch, not once per item.

export type ItemKind = 'attestation' | 'relay-record'

const KIND_CODE: Record<ItemKind, number> = { attestation: 0, 'relay-record': 1 }
const KIND_OF = ['attestation', 'relay-record'] as const

export interface NewItem {
  id: Uint8Array
  kind: ItemKind
  epoch: number
  /** the relay the item is about (attestations) or from (relay records) */
  relay: Uint8Array
  /** attestations only */
  witness?: Uint8Array
  bytes: Uint8Array
  receivedAt: number
}

export interface StoredBody {
  kind: ItemKind
  bytes: Uint8Array
}

export interface PendingItem {
  id: Uint8Array
  kind: ItemKind
  epoch: number
  bytes: Uint8Array
  receivedAt: number
}

export interface StoredVote {
  epoch: number
  signer: string
  /** sha256 of the signed root's fields, so votes for the same root group together */
  rootKey: Uint8Array
  bytes: Uint8Array
}

export interface StoredCertificate {
  epoch: number
  bytes: Uint8Array
  signers: string[]
}

/** A tally as the ledger keeps it: the JSON the API serves plus the roots it votes on. */
export interface StoredTally {
  epoch: number
  contentRoot: Uint8Array
  rewardsRoot: Uint8Array
  cumulativeTotal: bigint
  itemCount: number
  json: string
}

// Each entry moves the schema from version i to i + 1 (PRAGMA user_version). Never edit a released
// entry: append a new one.
const MIGRATIONS = [
  `CREATE TABLE items (
     id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, kind INTEGER NOT NULL, relay BLOB NOT NULL,
     witness BLOB, body BLOB NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX items_by_epoch ON items (epoch, id);
   CREATE INDEX items_by_claim ON items (epoch, relay, witness) WHERE kind = 0;
   CREATE TABLE equivocations (
     epoch INTEGER NOT NULL, relay BLOB NOT NULL, witness BLOB NOT NULL, first BLOB NOT NULL,
     second BLOB NOT NULL, PRIMARY KEY (first, second)) WITHOUT ROWID;
   CREATE TABLE pending (
     id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, kind INTEGER NOT NULL, body BLOB NOT NULL,
     received_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE votes (
     epoch INTEGER NOT NULL, signer TEXT NOT NULL, root_key BLOB NOT NULL, body BLOB NOT NULL,
     PRIMARY KEY (epoch, signer, root_key)) WITHOUT ROWID;
   CREATE TABLE certificates (epoch INTEGER PRIMARY KEY, body BLOB NOT NULL, signers TEXT NOT NULL);
   CREATE TABLE tallies (
     epoch INTEGER PRIMARY KEY, content_root BLOB NOT NULL, rewards_root BLOB NOT NULL,
     cumulative_total TEXT NOT NULL, item_count INTEGER NOT NULL, json TEXT NOT NULL);
   CREATE TABLE relay_scores (
     relay TEXT NOT NULL, epoch INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (relay, epoch)) WITHOUT ROWID;`,
  // items held that a certificate of their epoch left out (they reached us, not the quorum)
  `CREATE TABLE excluded (epoch INTEGER NOT NULL, id BLOB NOT NULL, PRIMARY KEY (epoch, id)) WITHOUT ROWID;`,
]

export const SCHEMA_VERSION = MIGRATIONS.length

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

export class LedgerStore {
  readonly db: Database.Database
  private readonly stmt

  constructor(path: string) {
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('foreign_keys = ON')
    this.migrate()
    const db = this.db
    this.stmt = {
      hasItem: db.prepare('SELECT 1 FROM items WHERE id = ?').pluck(),
      insertItem: db.prepare(
        'INSERT OR IGNORE INTO items (id, epoch, kind, relay, witness, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      sameClaim: db.prepare(
        'SELECT id, body FROM items WHERE epoch = ? AND relay = ? AND witness = ? AND kind = 0 AND id <> ?',
      ),
      insertEquivocation: db.prepare(
        'INSERT OR IGNORE INTO equivocations (epoch, relay, witness, first, second) VALUES (?, ?, ?, ?, ?)',
      ),
      ids: db.prepare('SELECT id FROM items WHERE epoch = ? ORDER BY id').pluck(),
      body: db.prepare('SELECT kind, body FROM items WHERE epoch = ? AND id = ?'),
      bodiesOfKind: db.prepare('SELECT id, body FROM items WHERE epoch = ? AND kind = ?'),
      recordsThrough: db
        .prepare(
          'SELECT body FROM items WHERE epoch <= ? AND kind = 1 AND id NOT IN (SELECT id FROM excluded)',
        )
        .pluck(),
      allRecords: db
        .prepare('SELECT body FROM items WHERE kind = 1 AND id NOT IN (SELECT id FROM excluded)')
        .pluck(),
      excludedOf: db.prepare('SELECT id FROM excluded WHERE epoch = ?').pluck(),
      exclude: db.prepare('INSERT OR IGNORE INTO excluded (epoch, id) VALUES (?, ?)'),
      counts: db.prepare('SELECT kind, count(*) AS n FROM items WHERE epoch = ? GROUP BY kind'),
      epochs: db.prepare('SELECT DISTINCT epoch FROM items ORDER BY epoch').pluck(),
      equivocationsOf: db.prepare('SELECT relay, witness, first, second FROM equivocations WHERE epoch = ?'),
      addPending: db.prepare(
        'INSERT OR IGNORE INTO pending (id, epoch, kind, body, received_at) VALUES (?, ?, ?, ?, ?)',
      ),
      pending: db.prepare(
        'SELECT id, epoch, kind, body, received_at FROM pending ORDER BY epoch, received_at',
      ),
      pendingCount: db.prepare('SELECT count(*) FROM pending').pluck(),
      deletePending: db.prepare('DELETE FROM pending WHERE id = ?'),
      insertVote: db.prepare(
        'INSERT OR IGNORE INTO votes (epoch, signer, root_key, body) VALUES (?, ?, ?, ?)',
      ),
      votesOf: db.prepare('SELECT epoch, signer, root_key, body FROM votes WHERE epoch = ? ORDER BY signer'),
      voteOf: db.prepare('SELECT epoch, signer, root_key, body FROM votes WHERE epoch = ? AND signer = ?'),
      insertCertificate: db.prepare(
        'INSERT OR IGNORE INTO certificates (epoch, body, signers) VALUES (?, ?, ?)',
      ),
      certificate: db.prepare('SELECT epoch, body, signers FROM certificates WHERE epoch = ?'),
      latestCertificate: db.prepare(
        'SELECT epoch, body, signers FROM certificates ORDER BY epoch DESC LIMIT 1',
      ),
      certifiedEpochs: db.prepare('SELECT epoch FROM certificates ORDER BY epoch').pluck(),
      saveTally: db.prepare(
        `INSERT OR REPLACE INTO tallies (epoch, content_root, rewards_root, cumulative_total, item_count, json)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      tally: db.prepare('SELECT * FROM tallies WHERE epoch = ?'),
      clearScores: db.prepare('DELETE FROM relay_scores WHERE epoch = ?'),
      saveScore: db.prepare('INSERT INTO relay_scores (relay, epoch, json) VALUES (?, ?, ?)'),
      scoresOf: db.prepare('SELECT json FROM relay_scores WHERE relay = ? ORDER BY epoch').pluck(),
      tallies: db.prepare('SELECT * FROM tallies ORDER BY epoch'),
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > MIGRATIONS.length) {
      throw new Error(`ledger database has schema ${version}, this build knows up to ${MIGRATIONS.length}`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string)
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  close(): void {
    this.db.close()
  }

  hasItem(id: Uint8Array): boolean {
    return this.stmt.hasItem.get(id) !== undefined
  }

  /**
   * Inserts items and pending items in one transaction (one fsync). Returns the ids that were new and
   * the equivocations found: another attestation of the same (epoch, relay, witness) with a different
   * id, judged a different claim by `differs` (both stay in the content; the tally counts neither).
   */
  write(
    items: readonly NewItem[],
    pending: readonly PendingItem[],
    differs: (a: Uint8Array, b: Uint8Array) => boolean,
    resolved: readonly Uint8Array[] = [],
  ): { inserted: number; equivocations: number } {
    let inserted = 0
    let equivocations = 0
    this.db.transaction(() => {
      for (const item of items) {
        const result = this.stmt.insertItem.run(
          item.id,
          item.epoch,
          KIND_CODE[item.kind],
          item.relay,
          item.witness ?? null,
          item.bytes,
          item.receivedAt,
        )
        if (result.changes === 0) continue
        inserted++
        if (item.kind !== 'attestation' || !item.witness) continue
        const others = this.stmt.sameClaim.all(item.epoch, item.relay, item.witness, item.id) as {
          id: Buffer
          body: Buffer
        }[]
        for (const other of others) {
          if (!differs(u8(other.body), item.bytes)) continue
          this.stmt.insertEquivocation.run(item.epoch, item.relay, item.witness, other.id, item.id)
          equivocations++
        }
      }
      for (const p of pending) {
        this.stmt.addPending.run(p.id, p.epoch, KIND_CODE[p.kind], p.bytes, p.receivedAt)
      }
      for (const id of resolved) this.stmt.deletePending.run(id)
    })()
    return { inserted, equivocations }
  }

  /**
   * Leaves items out of an epoch's content for good: held (so never ingested again) but no longer listed,
   * served, counted or tallied. For items a certificate of the epoch did not include.
   */
  exclude(epoch: number, ids: readonly Uint8Array[]): void {
    this.db.transaction(() => {
      for (const id of ids) this.stmt.exclude.run(epoch, id)
    })()
  }

  /** Ids left out of the epoch's content (latin1 strings), or undefined when none are (the usual case). */
  private excluded(epoch: number): Set<string> | undefined {
    const ids = this.stmt.excludedOf.all(epoch) as Buffer[]
    return ids.length === 0 ? undefined : new Set(ids.map(id => id.toString('latin1')))
  }

  /** The epoch's item ids in ascending byte order. */
  itemIds(epoch: number): Uint8Array[] {
    const ids = this.stmt.ids.all(epoch) as Buffer[]
    const out = this.excluded(epoch)
    return (out ? ids.filter(id => !out.has(id.toString('latin1'))) : ids).map(u8)
  }

  /** Bodies of the given items of an epoch (unknown and excluded ids are skipped). */
  bodies(epoch: number, ids: readonly Uint8Array[]): StoredBody[] {
    const out = this.excluded(epoch)
    const bodies: StoredBody[] = []
    for (const id of ids) {
      if (out?.has(Buffer.from(id).toString('latin1'))) continue
      const row = this.stmt.body.get(epoch, id) as { kind: number; body: Buffer } | undefined
      if (row) bodies.push({ kind: KIND_OF[row.kind] as ItemKind, bytes: u8(row.body) })
    }
    return bodies
  }

  private bodiesOfKind(epoch: number, kind: number): Uint8Array[] {
    const rows = this.stmt.bodiesOfKind.all(epoch, kind) as { id: Buffer; body: Buffer }[]
    const out = this.excluded(epoch)
    return (out ? rows.filter(r => !out.has(r.id.toString('latin1'))) : rows).map(r => u8(r.body))
  }

  attestationBodies(epoch: number): Uint8Array[] {
    return this.bodiesOfKind(epoch, 0)
  }

  relayRecordBodies(epoch: number): Uint8Array[] {
    return this.bodiesOfKind(epoch, 1)
  }

  /** Relay records of all epochs ≤ `epoch` (or of all epochs). */
  relayRecordsThrough(epoch?: number): Uint8Array[] {
    const rows = epoch === undefined ? this.stmt.allRecords.all() : this.stmt.recordsThrough.all(epoch)
    return (rows as Buffer[]).map(u8)
  }

  counts(epoch: number): { attestations: number; relayRecords: number } {
    if (this.excluded(epoch)) {
      return {
        attestations: this.attestationBodies(epoch).length,
        relayRecords: this.relayRecordBodies(epoch).length,
      }
    }
    const rows = this.stmt.counts.all(epoch) as { kind: number; n: number }[]
    return {
      attestations: rows.find(r => r.kind === 0)?.n ?? 0,
      relayRecords: rows.find(r => r.kind === 1)?.n ?? 0,
    }
  }

  /** Epochs that hold at least one item. */
  epochsWithItems(): number[] {
    return this.stmt.epochs.all() as number[]
  }

  equivocations(
    epoch: number,
  ): { relay: Uint8Array; witness: Uint8Array; first: Uint8Array; second: Uint8Array }[] {
    return (
      this.stmt.equivocationsOf.all(epoch) as {
        relay: Buffer
        witness: Buffer
        first: Buffer
        second: Buffer
      }[]
    ).map(r => ({ relay: u8(r.relay), witness: u8(r.witness), first: u8(r.first), second: u8(r.second) }))
  }

  pending(): PendingItem[] {
    return (
      this.stmt.pending.all() as {
        id: Buffer
        epoch: number
        kind: number
        body: Buffer
        received_at: number
      }[]
    ).map(r => ({
      id: u8(r.id),
      epoch: r.epoch,
      kind: KIND_OF[r.kind] as ItemKind,
      bytes: u8(r.body),
      receivedAt: r.received_at,
    }))
  }

  pendingCount(): number {
    return this.stmt.pendingCount.get() as number
  }

  /** Stores a vote; false if this signer's vote for this root of this epoch was already stored. */
  insertVote(vote: StoredVote): boolean {
    return this.stmt.insertVote.run(vote.epoch, vote.signer, vote.rootKey, vote.bytes).changes === 1
  }

  votes(epoch: number, signer?: string): StoredVote[] {
    const rows = (
      signer === undefined ? this.stmt.votesOf.all(epoch) : this.stmt.voteOf.all(epoch, signer)
    ) as { epoch: number; signer: string; root_key: Buffer; body: Buffer }[]
    return rows.map(r => ({ epoch: r.epoch, signer: r.signer, rootKey: u8(r.root_key), bytes: u8(r.body) }))
  }

  /** Stores the epoch's certificate unless one is already stored (the first valid one stays). */
  insertCertificate(cert: StoredCertificate): boolean {
    return this.stmt.insertCertificate.run(cert.epoch, cert.bytes, JSON.stringify(cert.signers)).changes === 1
  }

  certificate(epoch: number): StoredCertificate | undefined {
    return certificateRow(this.stmt.certificate.get(epoch))
  }

  latestCertificate(): StoredCertificate | undefined {
    return certificateRow(this.stmt.latestCertificate.get())
  }

  certifiedEpochs(): number[] {
    return this.stmt.certifiedEpochs.all() as number[]
  }

  /** Saves the epoch's tally (replacing an earlier one) with each relay's line, keyed by PeerId string. */
  saveTally(t: StoredTally, relays: readonly { peerId: string; json: string }[]): void {
    this.db.transaction(() => {
      this.stmt.saveTally.run(
        t.epoch,
        t.contentRoot,
        t.rewardsRoot,
        t.cumulativeTotal.toString(),
        t.itemCount,
        t.json,
      )
      this.stmt.clearScores.run(t.epoch)
      for (const r of relays) this.stmt.saveScore.run(r.peerId, t.epoch, r.json)
    })()
  }

  /** A relay's tally lines (JSON), oldest epoch first. */
  relayHistory(peerId: string): string[] {
    return this.stmt.scoresOf.all(peerId) as string[]
  }

  tally(epoch: number): StoredTally | undefined {
    return tallyRow(this.stmt.tally.get(epoch))
  }

  tallies(): StoredTally[] {
    return this.stmt.tallies.all().map(r => tallyRow(r) as StoredTally)
  }
}

function certificateRow(row: unknown): StoredCertificate | undefined {
  if (!row) return undefined
  const r = row as { epoch: number; body: Buffer; signers: string }
  return { epoch: r.epoch, bytes: u8(r.body), signers: JSON.parse(r.signers) }
}

function tallyRow(row: unknown): StoredTally | undefined {
  if (!row) return undefined
  const r = row as {
    epoch: number
    content_root: Buffer
    rewards_root: Buffer
    cumulative_total: string
    item_count: number
    json: string
  }
  return {
    epoch: r.epoch,
    contentRoot: u8(r.content_root),
    rewardsRoot: u8(r.rewards_root),
    cumulativeTotal: BigInt(r.cumulative_total),
    itemCount: r.item_count,
    json: r.json,
  }
}
