/**
 * @module templates/plan — a build's steps as a chain of cache keys (pure: no I/O).
 *
 * key(step i) = sha256(key(i-1) + "\n" + canonical JSON of what step i does), starting from a root key
 * over the project and the base digest. What a run step does includes the env, workdir and user it runs
 * with, so an env/workdir/user step changes every later key but makes no layer itself; the template's
 * network policy is part of every run step's key too (a step online may make other files than offline),
 * and of no key when the template has none (so offline templates keep their keys). Layers are
 * per project: the root key names it, so two projects never share (or probe) each other's layers.
 */
import { createHash } from 'node:crypto'
import type { TemplateStep } from '@tidepool/sdk'
import type { z } from 'zod'
import { canonicalJson } from '../audit/canonical-json.js'

/** A step as the schema parsed it (defaults filled in). */
type ParsedStep = z.output<typeof TemplateStep>

export const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex')

/** Default PATH of build commands (and of sandbox commands unless the template sets one). */
export const BUILD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface CopyAction {
  kind: 'copy'
  path: string
  bytes: Buffer
  mode: number
}

export interface RunAction {
  kind: 'run'
  cmd: string[]
  user: 'root' | 'user'
  cwd: string | undefined
  env: Record<string, string>
  timeoutMs: number
  /** The template's egress policy: the step runs with egress through the proxy under it; absent, offline. */
  network?: StepNetwork | undefined
}

/** A template's network level as its run steps get it. */
export interface StepNetwork {
  allowedDomains: readonly string[]
  deniedDomains: readonly string[]
}

export interface PlannedStep {
  index: number
  /** Chain key after this step. */
  key: string
  /** What makes a layer (copy, run); undefined for a metadata step. */
  action?: CopyAction | RunAction
  /** One line saying what the step is, for the log. */
  label: string
}

export interface Plan {
  rootKey: string
  steps: PlannedStep[]
  /** Env, workdir and user after the last step (the template's defaults with the steps applied). */
  env: Record<string, string>
  workdir: string | undefined
  user: 'root' | 'user' | undefined
}

/** A command as argv: a string runs under /bin/sh -c. */
export const argvOf = (cmd: string | string[]): string[] => (typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : [...cmd])

export function rootKey(project: string, baseDigest: string): string {
  return sha256(`tidepool-template/v1\n${project}\n${baseDigest}`)
}

/**
 * What every sandbox expects of its root and a foreign image (rootfs or OCI) may lack: the sandbox
 * user (uid 1000, the default user of commands), its home (the default cwd and where relative file
 * paths start) and /workspace. Run as root before the template's own steps, as step 0 of the plan (a
 * layer of its own, cached by the base digest like any step). Tolerant: a tool an image lacks leaves
 * that part out rather than failing the build.
 */
export const PREPARE_SCRIPT = [
  'mkdir -p /home/user /workspace',
  '(chown 1000:1000 /home/user /workspace 2>/dev/null || true)',
  "(grep -q '^user:' /etc/passwd 2>/dev/null || echo 'user:x:1000:1000::/home/user:/bin/sh' >> /etc/passwd)",
  "(grep -q '^user:' /etc/group 2>/dev/null || echo 'user:x:1000:' >> /etc/group)",
].join(' && ')

/**
 * Every step's key and action. Template-level env/workdir/user are where the steps start from. With
 * `prepare`, PREPARE_SCRIPT runs first as a planned step of index -1 (the user's steps keep their numbers).
 */
export function planBuild(
  project: string,
  baseDigest: string,
  steps: readonly ParsedStep[],
  start: { env: Record<string, string>; workdir?: string | undefined; user?: 'root' | 'user' | undefined; prepare?: boolean; network?: StepNetwork | undefined },
): Plan {
  const root = rootKey(project, baseDigest)
  let key = root
  const prepared: PlannedStep[] = []
  if (start.prepare) {
    const action: RunAction = { kind: 'run', cmd: argvOf(PREPARE_SCRIPT), user: 'root', cwd: '/', env: { PATH: BUILD_PATH, HOME: '/root' }, timeoutMs: 60_000 }
    key = sha256(`${key}\n${canonicalJson({ prepare: action })}`)
    prepared.push({ index: -1, key, action, label: 'prepare: the sandbox user, /home/user and /workspace' })
  }
  // Null-prototype: env names come from input.
  const env: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, start.env)
  let workdir = start.workdir
  let user = start.user
  const out: PlannedStep[] = [...prepared]
  steps.forEach((step, index) => {
    let what: unknown
    let action: CopyAction | RunAction | undefined
    let label: string
    if ('copy' in step) {
      const bytes = Buffer.from(step.copy.content, step.copy.encoding === 'base64' ? 'base64' : 'utf8')
      const mode = step.copy.mode ?? 0o644
      // The content's hash, not the content: keys stay short, and the same bytes give the same key.
      what = { copy: { path: step.copy.path, sha256: sha256(bytes), mode } }
      action = { kind: 'copy', path: step.copy.path, bytes, mode }
      label = `copy ${step.copy.path} (${bytes.length} bytes, mode ${mode.toString(8)})`
    } else if ('run' in step) {
      const cmd = argvOf(step.run)
      const runAs = step.user ?? user ?? 'root'
      const runEnv = { PATH: BUILD_PATH, HOME: runAs === 'root' ? '/root' : '/home/user', ...env }
      const network = start.network && { allowedDomains: [...start.network.allowedDomains], deniedDomains: [...start.network.deniedDomains] }
      what = { run: { cmd, user: runAs, cwd: workdir ?? null, env: runEnv, timeoutMs: step.timeoutMs, ...(network ? { network } : {}) } }
      action = { kind: 'run', cmd, user: runAs, cwd: workdir, env: runEnv, timeoutMs: step.timeoutMs, ...(network ? { network } : {}) }
      label = `run ${typeof step.run === 'string' ? step.run : step.run.join(' ')}`.slice(0, 200)
    } else if ('env' in step) {
      Object.assign(env, step.env)
      what = { env: step.env }
      label = `env ${Object.keys(step.env).join(' ')}`.slice(0, 200)
    } else if ('workdir' in step) {
      workdir = step.workdir
      what = { workdir: step.workdir }
      label = `workdir ${step.workdir}`
    } else {
      user = step.user
      what = { user: step.user }
      label = `user ${step.user}`
    }
    key = sha256(`${key}\n${canonicalJson(what)}`)
    out.push({ index, key, action, label })
  })
  return { rootKey: root, steps: out, env, workdir, user }
}

/** The template digest: the base and the exact layer stack. */
export function templateDigest(baseDigest: string, layerKeys: readonly string[]): string {
  return `sha256:${sha256(canonicalJson({ base: baseDigest, layers: layerKeys }))}`
}

/** Runtime snapshot id of a layer: one path segment, recognisable as the templates area's (reconcile). */
export const LAYER_SNAPSHOT_PREFIX = 'tpl_'
export const layerSnapshotId = (key: string) => `${LAYER_SNAPSHOT_PREFIX}${key.slice(0, 56)}`
/** Build sandboxes: recognisable too, so a restart can destroy one a crash left. */
export const BUILD_SANDBOX_PREFIX = 'tpb_'
