/** @module gate/seams — what the gate needs from other areas, handed in by main.ts (the gate imports no sibling area). */
import type { Principal } from '@tidepool/sdk'

/** The data area's mirrors and clones, as the caller: rehearsals run on a fresh clone of the target's mirror. */
export interface GateData {
  /** The mirror by id or name in the caller's project (not_found otherwise). */
  mirror(p: Principal, idOrName: string): Promise<{ id: string; state: string }>
  clone(p: Principal, mirrorId: string, ttlSeconds: number): Promise<{ id: string; url: string }>
  /** Idempotent. */
  dropClone(p: Principal, id: string): Promise<void>
}

/** The policy engine's answer for a gate action (`gate:approve`, `gate:promote`) on a proposal. */
export interface GatePolicy {
  decide(req: { principal: Principal; action: 'gate:approve' | 'gate:promote'; verdict: string; destructive: boolean; heavyLocks: boolean; rowsChanged: number; target: string }): {
    allow: boolean
    reason: string
  }
}
