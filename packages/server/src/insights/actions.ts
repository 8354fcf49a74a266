/** @module insights/actions — the seam to whatever carries out a remediation (sandbox resize, reset, snapshot), and the sandbox adapter. */
import type { Remediation } from '@tidepool/sdk'

export type RemediationKind = Remediation['kind']

export interface RemediationAction {
  project: string
  kind: RemediationKind
  params: Record<string, unknown>
  runId?: string | undefined
  testId?: string | undefined
}

export interface ActionOutcome {
  ok: boolean
  detail: string
  /** What it changes (e.g. { memoryMb: { from: 512, to: 1024 } }): the gates judge the blast radius from it. */
  effect?: Record<string, unknown>
}

/** Carries out remediations outside insights. `dryRun` must not change anything. */
export interface RemediationActions {
  supports(kind: RemediationKind): boolean
  dryRun(action: RemediationAction): Promise<ActionOutcome>
  apply(action: RemediationAction): Promise<ActionOutcome>
  /**
   * Undoes an applied remediation from the effect its apply reported (a resize goes back to `from`).
   * Absent, or not ok: the remediation cannot be reverted and stays applied.
   */
  revert?(action: RemediationAction, effect: Record<string, unknown> | undefined): Promise<ActionOutcome>
}

/** No external executor: resize/reset/reseed can only be suggested. */
export const noActions: RemediationActions = {
  supports: () => false,
  dryRun: async (a) => ({ ok: false, detail: `no executor for ${a.kind} is configured` }),
  apply: async (a) => ({ ok: false, detail: `no executor for ${a.kind} is configured` }),
}

/** What the sandbox service offers remediation (main.ts adapts the real SandboxService to it). */
export interface SandboxPort {
  /** Current resources and state of a sandbox of the project; undefined when it does not exist. */
  get(project: string, sandboxId: string): Promise<{ state: string; resources: { cpu: number; memoryMb: number; pids: number } } | undefined>
  resize(project: string, sandboxId: string, resources: { cpu?: number; memoryMb?: number }): Promise<void>
  resetState?(project: string, sandboxId: string): Promise<void>
  reseed?(project: string, sandboxId: string): Promise<void>
  snapshot?(project: string, sandboxId: string): Promise<{ id: string }>
}

/** Remediation through the sandbox service: live resize, reset/re-seed of its state, snapshot. */
export function sandboxRemediationActions(port: SandboxPort): RemediationActions {
  const kinds = new Set<RemediationKind>([
    'resize',
    ...(port.resetState ? (['reset_state'] as const) : []),
    ...(port.reseed ? (['reseed'] as const) : []),
    ...(port.snapshot ? (['snapshot_on_failure'] as const) : []),
  ])
  async function plan(a: RemediationAction): Promise<ActionOutcome & { target?: { cpu?: number; memoryMb?: number } }> {
    const id = typeof a.params.sandboxId === 'string' ? a.params.sandboxId : undefined
    if (!id) return { ok: false, detail: 'no sandboxId: the run did not say which sandbox it used (infra.sandboxId)' }
    const sbx = await port.get(a.project, id)
    if (!sbx) return { ok: false, detail: `sandbox ${id} not found` }
    if (sbx.state === 'stopped') return { ok: false, detail: `sandbox ${id} is stopped` }
    if (a.kind !== 'resize') return { ok: true, detail: `${a.kind} of sandbox ${id} (${sbx.state})`, effect: { sandboxes: 1 } }
    const factor = typeof a.params.factor === 'number' ? a.params.factor : 2
    const dimension = a.params.dimension === 'cpu' ? 'cpu' : 'memoryMb'
    const from = sbx.resources[dimension]
    const to = dimension === 'cpu' ? Math.round(from * factor * 100) / 100 : Math.round(from * factor)
    return { ok: true, detail: `${dimension} of ${id}: ${from} → ${to}`, effect: { sandboxes: 1, [dimension]: { from, to }, factor }, target: { [dimension]: to } }
  }
  return {
    supports: (k) => kinds.has(k),
    dryRun: async (a) => {
      const { target: _t, ...out } = await plan(a)
      return out
    },
    apply: async (a) => {
      const p = await plan(a)
      if (!p.ok) return p
      const id = a.params.sandboxId as string
      if (a.kind === 'resize') await port.resize(a.project, id, p.target ?? {})
      else if (a.kind === 'reset_state') await port.resetState!(a.project, id)
      else if (a.kind === 'reseed') await port.reseed!(a.project, id)
      else if (a.kind === 'snapshot_on_failure') {
        const snap = await port.snapshot!(a.project, id)
        return { ok: true, detail: `snapshot ${snap.id} of ${id}`, effect: { snapshotId: snap.id } }
      }
      const { target: _t, ...out } = p
      return out
    },
    revert: async (a, effect) => {
      const id = typeof a.params.sandboxId === 'string' ? a.params.sandboxId : undefined
      if (a.kind !== 'resize') return { ok: false, detail: `${a.kind} cannot be undone by tidepool` }
      const dimension = effect && 'cpu' in effect ? 'cpu' : 'memoryMb'
      const from = (effect?.[dimension] as { from?: unknown } | undefined)?.from
      if (!id || typeof from !== 'number') return { ok: false, detail: 'the applied resize recorded no previous size to go back to' }
      const sbx = await port.get(a.project, id)
      // Nothing runs at the new size any more: there is nothing left to undo.
      if (!sbx || sbx.state === 'stopped') return { ok: true, detail: `sandbox ${id} is ${sbx ? 'stopped' : 'gone'}; nothing to resize back` }
      await port.resize(a.project, id, { [dimension]: from })
      return { ok: true, detail: `${dimension} of ${id}: ${sbx.resources[dimension]} → ${from} (reverted)`, effect: { sandboxes: 1, [dimension]: { from: sbx.resources[dimension], to: from } } }
    },
  }
}

/** Records every call (for tests, and as a dry-run-only executor). */
export class RecordingActions implements RemediationActions {
  readonly calls: { op: 'dryRun' | 'apply'; action: RemediationAction }[] = []
  constructor(
    private readonly kinds: RemediationKind[] = ['resize', 'reset_state', 'reseed', 'snapshot_on_failure'],
    private readonly outcome: (a: RemediationAction) => ActionOutcome = (a) => ({ ok: true, detail: `${a.kind} recorded`, effect: { sandboxes: 1 } }),
  ) {}
  supports(kind: RemediationKind): boolean {
    return this.kinds.includes(kind)
  }
  async dryRun(action: RemediationAction): Promise<ActionOutcome> {
    this.calls.push({ op: 'dryRun', action })
    return this.outcome(action)
  }
  async apply(action: RemediationAction): Promise<ActionOutcome> {
    this.calls.push({ op: 'apply', action })
    return this.outcome(action)
  }
}
