/** @module runtime/gvisor/preflight — what `tidepool doctor` says of the gvisor isolation level: runsc, cgroups, and a real run. */
import { mkdirSync } from 'node:fs'
import type { PreflightCheck } from '../runtime.js'
import type { GvisorCgroups } from './gvisor-cgroups.js'
import { type RunscFlags, runsc, runscError } from './runsc.js'

export interface GvisorPreflightDeps {
  bin: string | undefined
  flags: RunscFlags
  cgroups: GvisorCgroups
  /** The runtime's gvisor directory (made for the probe's runsc state). */
  dir: string
}

/** One probe per process: `runsc do /bin/true` takes ~0.3 s, and the answer does not change while we run. */
let probed: Promise<PreflightCheck> | undefined

export async function gvisorPreflight(d: GvisorPreflightDeps): Promise<PreflightCheck[]> {
  const install = 'run scripts/install-runsc.sh as root (builds runsc from the Go module proxy into /usr/local/lib/tidepool), or set runtime.gvisor.runscPath'
  if (!d.bin) return [{ name: 'gvisor: runsc', ok: false, detail: 'runsc (gVisor) is not installed, so isolation "gvisor" is unavailable', fix: install }]
  const version = await runsc(d.bin, d.flags, ['--version']).catch(() => undefined)
  const checks: PreflightCheck[] = [
    { name: 'gvisor: runsc', ok: version?.code === 0, detail: version?.code === 0 ? `${d.bin}: ${version.stdout.split('\n')[0]}` : `${d.bin} does not run`, fix: install },
    {
      name: 'gvisor: cgroups',
      ok: d.cgroups.available,
      detail: d.cgroups.available ? 'cgroup hierarchy mounted (runsc applies cpu, memory and pids limits there)' : 'no cgroup hierarchy mounted',
      fix: 'mount cgroups v1 or v2',
    },
  ]
  if (version?.code === 0) checks.push(await (probed ??= probe(d)))
  return checks
}

/** A real sandbox on this kernel with the platform in use: the only way to know that runsc works here. */
async function probe(d: GvisorPreflightDeps): Promise<PreflightCheck> {
  mkdirSync(d.flags.stateDir, { recursive: true, mode: 0o700 })
  const name = `gvisor: runsc do (platform ${d.flags.platform})`
  const r = await runsc(d.bin!, d.flags, ['do', '/bin/true'], 20_000).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }))
  if (r.code === 0) return { name, ok: true, detail: `a gVisor sandbox runs on this kernel with --platform=${d.flags.platform} --network=none` }
  return {
    name,
    ok: false,
    detail: `runsc do /bin/true failed: ${runscError(r)}`,
    fix: d.flags.platform === 'systrap' ? 'run as root on Linux >= 4.8 with seccomp; try runtime.gvisor.platform: ptrace' : 'run as root; try runtime.gvisor.platform: systrap',
  }
}
