/**
 * @module bench/peers-setup — what the peers benchmark needs on the host: bubblewrap, runc, podman
 * (Debian packages, installed with apt-get where missing) and sandbox-runtime (npm, pinned, installed
 * into a cache folder of its own, never into the repository's dependencies), plus a shared rootfs.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childEnv, hostPath } from '../core/child-env.js'

const pexec = promisify(execFile)

/** The pinned sandbox-runtime (Anthropic's `srt`), the one the figures were measured with. */
export const sandboxRuntimePackage = '@anthropic-ai/sandbox-runtime@0.0.83'
/** Debian packages per peer binary; socat and ripgrep are sandbox-runtime's Linux requirements. */
const debianPackages: Record<string, string> = { bwrap: 'bubblewrap', runc: 'runc', podman: 'podman', socat: 'socat', rg: 'ripgrep' }

/** Runs a host tool with a minimal environment; rejects with its stderr. */
export async function sh(file: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
  try {
    const { stdout } = await pexec(file, args, { env: childEnv({ PATH: hostPath({ sbin: true }), ...opts.env }), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${file} ${args.slice(0, 4).join(' ')}: ${(e.stderr || e.message).trim().slice(-400)}`, { cause: err })
  }
}

function ownEnv(names: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const n of names) if (Object.hasOwn(process.env, n) && process.env[n]) env[n] = process.env[n]!
  return env
}

export function which(bin: string): string | undefined {
  for (const dir of hostPath({ sbin: true }).split(':')) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin)
  }
  return undefined
}

/**
 * Installs the Debian packages of the missing binaries (one apt-get run; needs root and the package
 * lists). Returns, per binary still missing afterwards, why.
 */
export async function ensureDebianTools(bins: string[]): Promise<Map<string, string>> {
  const missing = bins.filter((b) => !which(b))
  const why = new Map<string, string>()
  if (missing.length === 0) return why
  const pkgs = missing.map((b) => debianPackages[b]!).filter(Boolean)
  process.stderr.write(`  installing ${pkgs.join(' ')} (apt-get)\n`)
  let failure = ''
  if (!which('apt-get')) failure = 'apt-get is not available'
  else if (process.getuid?.() !== 0) failure = 'installing needs root'
  else {
    const env = { DEBIAN_FRONTEND: 'noninteractive' }
    try {
      await sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, timeoutMs: 600_000 })
    } catch (err) {
      // Stale or absent package lists: refresh once and retry.
      try {
        await sh('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 })
        await sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, timeoutMs: 600_000 })
      } catch (again) {
        failure = `apt-get install ${pkgs.join(' ')} failed: ${(again as Error).message || (err as Error).message}`
      }
    }
  }
  for (const b of missing) if (!which(b)) why.set(b, failure || `${b} is still missing after installing ${debianPackages[b]}`)
  return why
}

/** Installs the pinned sandbox-runtime into a cache folder (kept for the next run) and returns its module path. */
export async function ensureSandboxRuntime(): Promise<string> {
  const dir = join(tmpdir(), `tidepool-bench-srt-${sandboxRuntimePackage.split('@').pop()}`)
  const entry = join(dir, 'node_modules', '@anthropic-ai', 'sandbox-runtime')
  if (!existsSync(join(entry, 'package.json'))) {
    mkdirSync(dir, { recursive: true })
    process.stderr.write(`  installing ${sandboxRuntimePackage} (npm, into ${dir})\n`)
    await sh('npm', ['install', '--prefix', dir, '--cache', join(dir, '.npm-cache'), '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', sandboxRuntimePackage], {
      timeoutMs: 300_000,
      // The operator's registry settings (npmrc under HOME, a proxy's CA), as an npm they run would have.
      env: ownEnv(['HOME', 'NODE_EXTRA_CA_CERTS']),
    })
  }
  return entry
}

/**
 * A rootfs like tidepool's default template: the host's /usr (bound read-only by each peer) and the
 * merged-usr links, plus empty mount points. Returns its folder (the caller removes it).
 */
export function makeRootfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-peers-'))
  const root = join(dir, 'rootfs')
  for (const d of ['usr', 'proc', 'dev', 'sys', 'tmp', 'etc', 'home/user', 'run']) mkdirSync(join(root, d), { recursive: true })
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) if (existsSync(join('/usr', l))) symlinkSync(`usr/${l}`, join(root, l))
  return dir
}
