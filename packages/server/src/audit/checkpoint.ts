/** @module audit/checkpoint — a signed statement "record seq of the chain has this hash", and its check. */
import { canonicalJson } from './canonical-json.js'
import type { AuditSigner, AuditVerifier } from './signing-key.js'

export interface Checkpoint {
  seq: number
  hash: string
  at: string
  /** Id of the key that signed it (see AuditVerifier.id). */
  keyId: string
  /** Ed25519 over checkpointMessage(), base64url. */
  signature: string
}

/** What is signed: a domain tag (so the signature means nothing elsewhere), then {at,hash,seq} as canonical JSON. */
export function checkpointMessage(c: { seq: number; hash: string; at: string }): string {
  return `tidepool-audit-checkpoint/v1\n${canonicalJson({ seq: c.seq, hash: c.hash, at: c.at })}`
}

export function signCheckpoint(key: AuditSigner, head: { seq: number; hash: string }, at: string): Checkpoint {
  const body = { seq: head.seq, hash: head.hash, at }
  return { ...body, keyId: key.id, signature: key.sign(checkpointMessage(body)) }
}

/** Why a checkpoint cannot be trusted under `key`, or undefined when its signature holds. */
export function signatureProblem(c: Checkpoint, key: AuditVerifier): string | undefined {
  if (c.keyId !== key.id) return `signed by key ${c.keyId}, not by the audit signing key ${key.id}: the key was replaced, or the checkpoint forged`
  if (!key.verify(checkpointMessage(c), c.signature)) return 'signature does not match its seq, hash and time: the checkpoint was edited or forged'
  return undefined
}
