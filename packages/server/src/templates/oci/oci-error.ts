/** @module templates/oci/oci-error — OciError: an AppError with a machine-readable `reason` for the OCI import's faults. */
import { AppError } from '../../core/errors.js'
import type { ErrorCode } from '@tidepool/sdk'

/**
 * Why an import failed, finer than the wire code (also put in `details.reason`, so a client can tell a
 * tampered blob from a registry that is down although both are `runtime_unavailable`).
 */
export type OciFailure =
  | 'bad_reference' // the image reference or source path is malformed
  | 'bad_image' // manifest, config, index or a layer tar is malformed or unsafe
  | 'no_platform' // an index without a linux manifest for this host's architecture
  | 'not_found' // the registry or layout has no such image or blob
  | 'auth_failed' // the registry refused the credentials (or gave no token)
  | 'registry_unavailable' // unreachable, timed out, or answered 5xx
  | 'digest_mismatch' // a blob's or manifest's bytes do not hash to its digest
  | 'size_mismatch' // a blob larger or smaller than its descriptor says
  | 'unsupported' // e.g. a zstd layer on a Node without zlib zstd

const codeOf: Record<OciFailure, ErrorCode> = {
  bad_reference: 'invalid_request',
  bad_image: 'invalid_request',
  no_platform: 'invalid_request',
  not_found: 'not_found',
  // The registry's credentials, not the caller's tidepool token: 401 would tell an API client to re-login.
  auth_failed: 'invalid_request',
  // Faults of the upstream, not of the request: retrying later may help.
  registry_unavailable: 'runtime_unavailable',
  digest_mismatch: 'runtime_unavailable',
  size_mismatch: 'runtime_unavailable',
  unsupported: 'invalid_request',
}

export class OciError extends AppError {
  constructor(
    readonly reason: OciFailure,
    message: string,
    extra?: Record<string, unknown>,
    opts?: ErrorOptions,
  ) {
    super(codeOf[reason], message, { reason, ...extra }, opts)
    this.name = 'OciError'
  }
}
