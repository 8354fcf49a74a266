/** @module audit/verify — walks the chain, its signed checkpoints and the head file; says what it checked and what failed. */
import type { Db } from '../store/db.js'
import type { AuditCheckpointRow } from '../store/schema.js'
import { columnMismatch, fromRow, hashText, recordHash } from './audit-row.js'
import { signatureProblem, type Checkpoint } from './checkpoint.js'
import { readHead, type HeadState } from './head-file.js'
import type { AuditVerifier } from './signing-key.js'

export const genesis = '0'.repeat(64)
const PAGE = 5000

export interface VerifyOptions {
  /** The key checkpoints must be signed by; without one, signatures and the head are not checked. */
  key?: AuditVerifier | undefined
  /** The head file kept outside the store; without one, tail truncation is checked only against checkpoints. */
  headFile?: string | undefined
}

export interface Problem {
  /** The record or checkpoint concerned; 0 for the log as a whole. */
  seq: number
  problem: string
}

export interface VerifyReport {
  ok: boolean
  records: number
  problems: Problem[]
  /** Signed checkpoints checked (signature, and the record hash they vouch for). */
  checkpoints: number
  /** The head file: 'ok' (checked), 'absent', 'reset' (emptied by an operator), 'unreadable', or 'not_checked'. */
  headState: HeadState['state'] | 'not_checked'
  head?: { seq: number; hash: string; at: string } | undefined
  /** Every record up to this seq is vouched for by a valid signature; 0 when none is. */
  signedThrough: number
  /** Records after signedThrough: covered by the hash chain only (appended since the last checkpoint). */
  unsignedTail: number
  /** Id and public key of the key signatures were checked against. */
  key?: { id: string; publicKey: string } | undefined
}

const toCheckpoint = (r: AuditCheckpointRow): Checkpoint => ({ seq: Number(r.seq), hash: r.hash, at: r.at, keyId: r.key_id, signature: r.signature })

export async function verifyAuditLog(db: Db, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: Problem[] = []
  const { key } = opts
  // The newest checkpoint before the head file: a checkpoint writes its head file first, so a head
  // read second is never older than the store's newest checkpoint unless someone rolled it back.
  const newest = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst()
  const maxCp = newest ? Number(newest.seq) : 0
  const read = opts.headFile !== undefined ? readHead(opts.headFile) : undefined
  // Without the key nothing signed can be trusted; deleting the key must not switch the checks off.
  if (!key && (maxCp > 0 || read?.state === 'ok'))
    problems.push({ seq: 0, problem: 'the log has signed checkpoints, but no signing key was given to check them: the key file is missing (deleted?); restore it or pass the public key with --key' })
  const head = key ? read : undefined
  const headSeq = head?.state === 'ok' ? head.head.seq : undefined
  let headRecordHash: string | undefined

  let prev = genesis
  let expectedSeq = 1
  let records = 0
  let lastSeq = 0
  let checkpoints = 0
  let signedThrough = 0
  const checkCheckpoint = (c: Checkpoint, recordHashAt: string | undefined) => {
    checkpoints++
    const bad = key ? signatureProblem(c, key) : undefined
    if (bad) return void problems.push({ seq: c.seq, problem: `checkpoint: ${bad}` })
    if (recordHashAt === undefined) return void problems.push({ seq: c.seq, problem: `checkpoint signed ${c.at} vouches for record ${c.seq}, which is missing: records were deleted` })
    if (recordHashAt !== c.hash)
      return void problems.push({
        seq: c.seq,
        problem: `record ${c.seq} does not have the hash its checkpoint signed ${c.at} vouches for: records up to ${c.seq} were edited and the chain recomputed`,
      })
    if (key) signedThrough = Math.max(signedThrough, c.seq)
  }

  for (let afterSeq = 0; ;) {
    const rows = await db.selectFrom('audit').selectAll().where('seq', '>', afterSeq).orderBy('seq', 'asc').limit(PAGE).execute()
    if (rows.length === 0) break
    const hashes = new Map<number, string>()
    for (const row of rows) {
      records++
      const seq = Number(row.seq)
      let r
      try {
        r = fromRow(row)
      } catch {
        problems.push({ seq, problem: 'the stored record text is not JSON: the record was edited' })
        prev = row.hash
        expectedSeq = seq + 1
        continue
      }
      if (seq !== expectedSeq) problems.push({ seq, problem: `expected seq ${expectedSeq}: a record was removed or inserted` })
      if (r.seq !== seq) problems.push({ seq, problem: `the hashed record says seq ${r.seq}: the record was edited or moved` })
      if (r.prevHash !== prev || row.prev_hash !== r.prevHash) problems.push({ seq, problem: 'prevHash does not match the previous record: records were removed or reordered' })
      // Hash exactly the text stored; only rows from before migration 0400 are re-serialised.
      const { hash, ...body } = r
      if ((row.body !== null ? hashText(row.body) : recordHash(body)) !== hash) problems.push({ seq, problem: 'hash does not match the content: the record was edited' })
      const col = row.body !== null ? columnMismatch(row, r) : undefined
      if (col) problems.push({ seq, problem: `the ${col} column differs from the hashed record: the record was edited` })
      hashes.set(seq, row.hash)
      if (seq === headSeq) headRecordHash = row.hash
      prev = row.hash
      expectedSeq = seq + 1
      lastSeq = seq
    }
    const cps = await db.selectFrom('audit_checkpoints').selectAll().where('seq', '>', afterSeq).where('seq', '<=', Math.min(lastSeq, maxCp)).orderBy('seq', 'asc').execute()
    for (const c of cps.map(toCheckpoint)) checkCheckpoint(c, hashes.get(c.seq))
    afterSeq = lastSeq
  }

  // Checkpoints past the end of the chain: the newest records were deleted (tail truncation).
  if (maxCp > lastSeq) {
    const beyond = await db
      .selectFrom('audit_checkpoints')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('seq', '>', lastSeq)
      .executeTakeFirst()
    const c = toCheckpoint(newest!)
    const bad = key ? signatureProblem(c, key) : undefined
    checkpoints++
    problems.push({
      seq: c.seq,
      problem: bad
        ? `checkpoint: ${bad}`
        : `the chain ends at seq ${lastSeq}, but ${Number(beyond?.n ?? 1)} checkpoint(s) up to seq ${c.seq} (signed ${c.at}) were signed after it: the newest records were deleted`,
    })
  }

  let headInfo: VerifyReport['head']
  if (head?.state === 'ok') {
    const h = head.head
    headInfo = { seq: h.seq, hash: h.hash, at: h.at }
    const bad = signatureProblem(h, key!)
    if (bad) problems.push({ seq: h.seq, problem: `head file ${opts.headFile}: ${bad}` })
    else if (h.seq > lastSeq)
      problems.push({ seq: h.seq, problem: `the chain ends at seq ${lastSeq}, but the signed head (${opts.headFile}, ${h.at}) is at seq ${h.seq}: the newest records were deleted` })
    else if ((h.seq === 0 ? genesis : headRecordHash) !== h.hash)
      problems.push({ seq: h.seq, problem: `record ${h.seq} does not have the hash the signed head vouches for: records up to ${h.seq} were edited and the chain recomputed` })
    else signedThrough = Math.max(signedThrough, h.seq)
    if (!bad && h.seq < maxCp)
      problems.push({ seq: h.seq, problem: `the head file is at seq ${h.seq}, older than the store's newest checkpoint (seq ${maxCp}): it was rolled back or replaced by an older one` })
  } else if (head?.state === 'unreadable') {
    problems.push({ seq: 0, problem: `head file ${opts.headFile} is unreadable (${head.reason}): it was damaged or replaced` })
  } else if (head?.state === 'absent' && (maxCp > 0 || records > 0)) {
    problems.push({
      seq: maxCp,
      problem:
        maxCp > 0
          ? `head file ${opts.headFile} is missing, though the store has checkpoints through seq ${maxCp}: it was deleted (records deleted after the last checkpoint cannot be detected without it)`
          : `head file ${opts.headFile} is missing and nothing in the store is signed, though a signing key exists: the head and the checkpoints were deleted`,
    })
  }

  return {
    ok: problems.length === 0,
    records,
    problems,
    checkpoints,
    headState: head?.state ?? 'not_checked',
    ...(headInfo ? { head: headInfo } : {}),
    signedThrough,
    unsignedTail: Math.max(0, lastSeq - signedThrough),
    ...(key ? { key: { id: key.id, publicKey: key.publicKey } } : {}),
  }
}
