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

/** A sandbox's limits as its cgroup says now (read back from the files, not from the stored row). */
export interface CgroupLimitsNow {
  memoryMb: number
  pids: number
  cpu?: number | undefined
}

/** A clone of the data area bound to a sandbox (its database). */
export interface BoundClone {
  id: string
  resetAt?: string | undefined
}

/** What the data area offers remediation (main.ts adapts the real DataService to it, as system:remediation). */
export interface ClonePort {
  /** Live clones bound to the sandbox. */
  boundTo(project: string, sandboxId: string): Promise<BoundClone[]>
  /** A data snapshot of the clone as it is now (what a reset's rollback goes back to). */
  snapshot(project: string, cloneId: string, label: string): Promise<{ id: string }>
  /** Resets the clone to its start (the mirror's rows: the seed) or to one of its snapshots. */
  reset(project: string, cloneId: string, to: string): Promise<BoundClone>
}

/** What the sandbox service offers remediation (main.ts adapts the real SandboxService to it). */
export interface SandboxPort {
  /** Current resources and state of a sandbox of the project; undefined when it does not exist. */
  get(project: string, sandboxId: string): Promise<{ state: string; resources: { cpu: number; memoryMb: number; pids: number } } | undefined>
  resize(project: string, sandboxId: string, resources: { cpu?: number; memoryMb?: number; pids?: number }): Promise<void>
  /** The limits the sandbox's cgroup holds now: how a resize and its rollback are checked. */
  limits?(project: string, sandboxId: string): Promise<CgroupLimitsNow | undefined>
  /** The clones bound to sandboxes: reset_state and reseed reset them. */
  clones?: ClonePort
  snapshot?(project: string, sandboxId: string): Promise<{ id: string }>
  /** Takes back an armed snapshot-on-failure of the sandbox (its next failing exec is not captured). */
  disarm?(sandboxId: string): boolean
}

type Dimension = 'cpu' | 'memoryMb' | 'pids'
const dimensionOf = (v: unknown): Dimension => (v === 'cpu' ? 'cpu' : v === 'pids' ? 'pids' : 'memoryMb')

/** Does the cgroup hold `want` for the dimension? CPU is compared to 1 % (the quota is written in microseconds). */
export function cgroupHolds(limits: CgroupLimitsNow | undefined, dimension: Dimension, want: number): { ok: boolean; detail: string } {
  if (!limits) return { ok: false, detail: 'the cgroup could not be read' }
  const now = limits[dimension]
  if (now === undefined) return { ok: false, detail: `the cgroup does not say its ${dimension}` }
  const ok = dimension === 'cpu' ? Math.abs(now - want) <= want * 0.01 : now === want
  return { ok, detail: `cgroup ${dimension} ${ok ? 'is' : 'is not'} ${want} (read ${Math.round(now * 100) / 100})` }
}

/** Remediation through the sandbox service and the data area: live resize, clone reset/re-seed, snapshot. */
export function sandboxRemediationActions(port: SandboxPort): RemediationActions {
  const kinds = new Set<RemediationKind>(['resize', ...(port.clones ? (['reset_state', 'reseed'] as const) : []), ...(port.snapshot ? (['snapshot_on_failure'] as const) : [])])
  async function plan(a: RemediationAction): Promise<ActionOutcome & { target?: Partial<Record<Dimension, number>>; clones?: BoundClone[] }> {
    const id = typeof a.params.sandboxId === 'string' ? a.params.sandboxId : undefined
    if (!id) return { ok: false, detail: 'no sandboxId: the run did not say which sandbox it used (infra.sandboxId)' }
    const sbx = await port.get(a.project, id)
    if (!sbx) return { ok: false, detail: `sandbox ${id} not found` }
    if (sbx.state === 'stopped') return { ok: false, detail: `sandbox ${id} is stopped` }
    if (a.kind === 'reset_state' || a.kind === 'reseed') {
      const clones = await port.clones!.boundTo(a.project, id)
      if (clones.length === 0) return { ok: false, detail: `sandbox ${id} has no clone bound to it: nothing to ${a.kind === 'reseed' ? 're-seed' : 'reset'}` }
      return { ok: true, detail: `${a.kind} of ${clones.length} clone(s) of sandbox ${id}: ${clones.map((c) => c.id).join(', ')}`, effect: { sandboxes: 1, clones: clones.length }, clones }
    }
    if (a.kind !== 'resize') return { ok: true, detail: `${a.kind} of sandbox ${id} (${sbx.state})`, effect: { sandboxes: 1 } }
    const factor = typeof a.params.factor === 'number' ? a.params.factor : 2
    const dimension = dimensionOf(a.params.dimension)
    const from = sbx.resources[dimension]
    const to = dimension === 'cpu' ? Math.round(from * factor * 100) / 100 : Math.round(from * factor)
    return { ok: true, detail: `${dimension} of ${id}: ${from} → ${to}`, effect: { sandboxes: 1, [dimension]: { from, to }, factor }, target: { [dimension]: to } }
  }
  /** Resizes one dimension and reads the cgroup back: not ok when it does not hold the new value. */
  async function resizeChecked(project: string, id: string, dimension: Dimension, to: number): Promise<{ ok: boolean; detail: string }> {
    await port.resize(project, id, { [dimension]: to })
    if (!port.limits) return { ok: true, detail: 'not checked: the runtime cannot read its limits back' }
    return cgroupHolds(await port.limits(project, id), dimension, to)
  }
  async function resetClones(a: RemediationAction, clones: BoundClone[]): Promise<ActionOutcome> {
    const done: { id: string; before: string; resetAt?: string | undefined }[] = []
    for (const c of clones) {
      // The clone's rows as they were, so the rollback has somewhere to go back to.
      const before = await port.clones!.snapshot(a.project, c.id, `before ${a.kind}`)
      const after = await port.clones!.reset(a.project, c.id, 'start')
      done.push({ id: c.id, before: before.id, resetAt: after.resetAt })
    }
    const checked = done.every((d, i) => d.resetAt !== undefined && d.resetAt !== clones[i]!.resetAt)
    return {
      ok: checked,
      detail: `${done.length} clone(s) reset to their start${checked ? '' : ': a clone did not report a new reset time'}`,
      effect: { clones: done, check: { ok: checked, detail: checked ? 'every clone reports a new resetAt' : 'resetAt unchanged' } },
    }
  }
  return {
    supports: (k) => kinds.has(k),
    dryRun: async (a) => {
      const { target: _t, clones: _c, ...out } = await plan(a)
      return out
    },
    apply: async (a) => {
      const p = await plan(a)
      if (!p.ok) return p
      const id = a.params.sandboxId as string
      const { target: _t, clones: _c, ...out } = p
      if (a.kind === 'resize') {
        const dimension = dimensionOf(a.params.dimension)
        const check = await resizeChecked(a.project, id, dimension, p.target![dimension]!)
        return { ok: check.ok, detail: `${out.detail}; ${check.detail}`, effect: { ...out.effect, check } }
      }
      if (a.kind === 'reset_state' || a.kind === 'reseed') return resetClones(a, p.clones!)
      if (a.kind === 'snapshot_on_failure') {
        const snap = await port.snapshot!(a.project, id)
        return { ok: true, detail: `snapshot ${snap.id} of ${id}`, effect: { snapshotId: snap.id, sandboxId: id } }
      }
      return out
    },
    revert: async (a, effect) => {
      const id = typeof a.params.sandboxId === 'string' ? a.params.sandboxId : undefined
      if (a.kind === 'reset_state' || a.kind === 'reseed') {
        const clones = (effect?.clones ?? []) as { id: string; before: string }[]
        if (!port.clones || clones.length === 0) return { ok: false, detail: 'the applied reset recorded no snapshot to go back to' }
        const back: BoundClone[] = []
        for (const c of clones) back.push(await port.clones.reset(a.project, c.id, c.before))
        const ok = back.every((b) => b.resetAt !== undefined)
        return {
          ok,
          detail: `${clones.length} clone(s) back at their snapshot from before the ${a.kind}`,
          effect: { clones: clones.map((c) => ({ id: c.id, to: c.before })), check: { ok, detail: 'reset to the snapshot' } },
        }
      }
      if (a.kind === 'snapshot_on_failure') {
        // Disarming is the rollback: captures taken stay (they are evidence), no further one is taken. The
        // sandboxes are the one named at arming and those captured since (each capture armed its sandbox).
        const ids = [...new Set([...(id ? [id] : []), ...(Array.isArray(effect?.sandboxIds) ? effect.sandboxIds.filter((x): x is string => typeof x === 'string') : [])])]
        const armed = port.disarm ? ids.filter((x) => port.disarm!(x)) : []
        return {
          ok: true,
          detail: `snapshot on failure disarmed${ids.length ? ` for ${ids.join(', ')}` : ''}`,
          effect: { check: { ok: true, detail: armed.length ? `${armed.join(', ')} armed before, not any more` : 'no sandbox was armed' } },
        }
      }
      if (a.kind !== 'resize') return { ok: false, detail: `${a.kind} cannot be undone by tidepool` }
      const dimension: Dimension = effect && 'cpu' in effect ? 'cpu' : effect && 'pids' in effect ? 'pids' : 'memoryMb'
      const from = (effect?.[dimension] as { from?: unknown } | undefined)?.from
      if (!id || typeof from !== 'number') return { ok: false, detail: 'the applied resize recorded no previous size to go back to' }
      const sbx = await port.get(a.project, id)
      // Nothing runs at the new size any more: there is nothing left to undo.
      if (!sbx || sbx.state === 'stopped')
        return { ok: true, detail: `sandbox ${id} is ${sbx ? 'stopped' : 'gone'}; nothing to resize back`, effect: { check: { ok: true, detail: 'no cgroup left' } } }
      const check = await resizeChecked(a.project, id, dimension, from)
      return {
        ok: check.ok,
        detail: `${dimension} of ${id}: ${sbx.resources[dimension]} → ${from}; ${check.detail}`,
        effect: { sandboxes: 1, [dimension]: { from: sbx.resources[dimension], to: from }, check },
      }
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
