/** @module audit/head-check — at start, the store's chain must still reach the signed head kept outside it. */
import { AppError } from '../core/errors.js'
import type { Db } from '../store/db.js'
import { signatureProblem } from './checkpoint.js'
import { readHead, type HeadState } from './head-file.js'
import type { AuditVerifier } from './signing-key.js'

const genesis = '0'.repeat(64)

/**
 * Throws AppError('conflict') when the head file and the store disagree: signing a new head over a
 * truncated or rewritten chain would destroy the only evidence of it. An empty head file is an
 * operator's explicit "accept the store as it is" (the next checkpoint writes a new head).
 * Returns the head file's state.
 */
export async function checkHeadAtStart(db: Db, key: AuditVerifier, headFile: string, keyCreated: boolean): Promise<HeadState['state']> {
  const head = readHead(headFile)
  const refuse = (why: string): never => {
    throw new AppError(
      'conflict',
      `the audit log in the store does not match its signed head ${headFile}: ${why}. Run \`tidepool audit verify --offline\` to see what changed; ` +
        `to accept the store as it is and start, keep the evidence and empty the head file: mv ${headFile} ${headFile}.rejected && : > ${headFile}`,
    )
  }
  if (head.state === 'reset') return 'reset'
  if (head.state === 'unreadable') return refuse(`the head file is unreadable (${head.reason})`)
  if (head.state === 'absent') {
    const cp = await db.selectFrom('audit_checkpoints').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst()
    if (cp) return refuse(`the head file is missing, though the store has checkpoints through seq ${Number(cp.seq)}`)
    // A store from before signed checkpoints has records and no checkpoint: its first one comes next.
    // The start that makes the key writes a head at once (seq 0 on an empty log), so with the key
    // already there, a missing head over a log with records means it was deleted.
    if (!keyCreated) {
      const any = await db.selectFrom('audit').select('seq').limit(1).executeTakeFirst()
      if (any) return refuse('the head file is missing and no checkpoint is in the store, though the signing key already existed')
    }
    return 'absent'
  }
  const h = head.head
  const bad = signatureProblem(h, key)
  if (bad) return refuse(`the head is ${bad}`)
  if (h.seq === 0) return h.hash === genesis ? 'ok' : refuse('the head at seq 0 does not hold the genesis hash')
  const row = await db.selectFrom('audit').select(['seq', 'hash']).where('seq', '=', h.seq).executeTakeFirst()
  if (!row) {
    const last = await db.selectFrom('audit').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst()
    return refuse(`the chain ends at seq ${last ? Number(last.seq) : 0}, before the signed head at seq ${h.seq} (${h.at}): the newest records were deleted`)
  }
  if (row.hash !== h.hash) refuse(`record ${h.seq} does not have the hash the head signed ${h.at} vouches for: the chain was rewritten`)
  return 'ok'
}
