/** @module kit/snapshot-seam — what an area needs to snapshot a sandbox as the caller (main.ts fills it from the sandboxes area). */
import type { Principal } from '@tidepool/sdk'

/** Takes a snapshot of a sandbox, as `principal` (so a foreign sandbox is not_found, as over the API). */
export interface SandboxSnapshotter {
  snapshot(principal: Principal, sandboxId: string, labels: Record<string, string>): Promise<{ id: string }>
}
