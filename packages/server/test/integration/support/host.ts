/** Helpers for integration tests: root check, leftovers on the host, the built CLI. */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const isRoot = process.getuid?.() === 0
export const skipReason = isRoot ? undefined : 'needs root (namespaces, cgroups, overlayfs); CI runs as root'

export const cliPath = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url))

/** Everything a sandbox could leave on the host, for a set of ids (or any under a cgroup name, in any instance's `<name>/<instance>/`). */
export function leftovers(cgroupName: string, ids: string[] = []): string[] {
  const found: string[] = []
  for (const root of ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => `/sys/fs/cgroup/${d}`)]) {
    const dir = `${root}/${cgroupName}`
    if (!existsSync(dir)) continue
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue
      const sub = readdirSync(`${dir}/${e.name}`, { withFileTypes: true }).filter((c) => c.isDirectory())
      if (/^[0-9a-f]{10}$/.test(e.name)) for (const c of sub) found.push(`cgroup ${dir}/${e.name}/${c.name}`)
      else found.push(`cgroup ${dir}/${e.name}`)
    }
  }
  const mounts = readFileSync('/proc/mounts', 'utf8')
  for (const id of ids) {
    if (mounts.includes(id)) found.push(`mount mentioning ${id}`)
  }
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout
  for (const line of ps.split('\n')) {
    if (ids.some((id) => line.includes(id)) && !line.includes('ps -eo')) found.push(`process ${line.trim()}`)
  }
  return found
}

/** Destroys every sandbox a test runtime has traces of (for afterAll / finally, also after a failed test). */
export async function destroyAll(dataDir: string, cgroupName: string): Promise<void> {
  const { LocalRuntime } = await import('../../../src/runtime/local/local-runtime.js')
  const runtime = new LocalRuntime({ dataDir, cgroupName })
  for (const id of await runtime.list()) await runtime.destroy(id)
  // A snapshot keeps the disk pool mounted (it lives in it): the last one deleted lets the pool go.
  for (const id of await runtime.snapshots.list()) await runtime.snapshots.delete(id)
  await runtime.removeCgroupParents()
}
