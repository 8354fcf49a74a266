/** @module webhooks/approval-links — makes the signed approve/reject links of remediations, bound to an identity. */
import type { Principal } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { withoutTrailingSlashes } from './github/client.js'
import { linkPath, type LinkClaims, LinkSigner } from './links.js'

export class ApprovalLinks {
  constructor(
    private readonly signer: LinkSigner,
    private readonly clock: Clock,
    /** The base URL people reach this server at (config webhooks.publicUrl, else the address it listens on). */
    private readonly baseUrl: () => string,
  ) {}

  /** A link deciding `remediationId` as `principal` (its token id is bound; its scopes apply when the link is used). */
  create(principal: Pick<Principal, 'project' | 'tokenId'>, input: { remediationId: string; decision: 'approve' | 'reject'; ttlSeconds: number }): { url: string; expiresAt: string } {
    const expiresAt = Math.floor(this.clock.now() / 1000) + input.ttlSeconds
    const token = this.signer.sign({ remediationId: input.remediationId, decision: input.decision, project: principal.project, tokenId: principal.tokenId, expiresAt })
    return { url: `${withoutTrailingSlashes(this.baseUrl())}${linkPath}?t=${token}`, expiresAt: iso(expiresAt * 1000) }
  }

  /** The claims of a link's token (`unauthenticated` with details.reason link_invalid / link_expired otherwise). */
  verify(token: string | undefined): LinkClaims {
    return this.signer.verify(token, Math.floor(this.clock.now() / 1000))
  }
}
