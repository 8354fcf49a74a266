/**
 * @module runtime/local/local-snapshots — RuntimeSnapshots of the local runtime: a snapshot is a
 * read-only btrfs snapshot of a sandbox's subvolume, in `<pool>/.snapshots/<id>`, holding its writable
 * layer (`upper/root`, and `upper/usr` for host templates) and a record file. O(1) in bytes and files.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { KeyedMutex } from '../../core/mutex.js'
import { emptyEnv } from '../../core/child-env.js'
import type { RuntimeRef, RuntimeSnapshots, SnapshotRef } from '../runtime.js'
import { SANDBOX_ID_RE, checkSandboxId } from '../sandbox-checks.js'
import type { Cgroups } from './cgroups/cgroups.js'
import type { DiskPool } from './disk-pool.js'
import { MOUNT_FAILED, snapshotArgv, snapshotDeleteArgv } from './helper-args.js'
import { readText } from './host-files.js'
import { sandboxPaths, snapshotsDir } from './mounts.js'
import { isRunning } from './proc.js'
import { RuntimeError, messageOf, parseHelperReport } from './runtime-error.js'

/** The helper's record in every complete snapshot (native/snapshot.h SNAPSHOT_RECORD). */
const RECORD = 'snapshot'
const HELPER_TIMEOUT_MS = 60_000

export interface LocalSnapshotsDeps {
  dataDir: string
  helperPath: string
  pool: DiskPool
  cgroups: Cgroups
  /** Per sandbox: pause, resume and a snapshot's freeze–capture–thaw never interleave (a thaw must not undo a pause). */
  freezeLock: KeyedMutex
}

export class LocalSnapshots implements RuntimeSnapshots {
  readonly #d: LocalSnapshotsDeps
  readonly #dir: string
  /** Per snapshot id: its create and delete never interleave. */
  readonly #ids = new KeyedMutex()

  constructor(d: LocalSnapshotsDeps) {
    this.#d = d
    this.#dir = snapshotsDir(d.dataDir)
  }

  /**
   * Freeze (unless paused already), one BTRFS_IOC_SNAP_CREATE_V2 of the sandbox's subvolume, thaw. No
   * syncfs: the snapshot is taken by the filesystem that holds the files, and btrfs flushes the source's
   * dirty pages (delalloc) into the snapshot's transaction itself, so what a process wrote before the
   * freeze is in it; the freeze only makes sure no process is between two writes of one change.
   */
  async create(ref: RuntimeRef, id: string): Promise<SnapshotRef> {
    checkSnapshotId(id)
    checkSandboxId(ref.id)
    const gone = () => new RuntimeError('not_found', `sandbox ${ref.id} is not running (its init, pid ${ref.pid}, is gone); nothing to snapshot`)
    if (!isRunning(ref.pid, ref.startTime)) throw gone()
    await this.#d.pool.ensure()
    return this.#ids.run(id, async () => {
      const dest = join(this.#dir, id)
      if (existsSync(dest)) {
        if (existsSync(join(dest, RECORD))) throw new RuntimeError('invalid_request', `snapshot ${id} exists already; choose another id or delete it first`)
        await this.#deleteSubvolume(id) // a capture a crash cut short (no record): never complete, never used
      }
      const source = sandboxPaths(this.#d.dataDir, ref.id).dir
      await this.#d.freezeLock.run(ref.id, async () => {
        if (!isRunning(ref.pid, ref.startTime)) throw gone()
        const paused = this.#d.cgroups.state(ref.id) === 'frozen'
        // What the layer's qgroup counted at the last commit (see bytesOf).
        const bytes = this.#d.pool.usage(source)?.bytes ?? 0
        if (!paused) await this.#d.cgroups.freeze(ref.id)
        try {
          await runHelper(this.#d.helperPath, snapshotArgv({ source, dest, bytes }), `snapshot sandbox ${ref.id} as ${id}`)
        } finally {
          if (!paused) this.#d.cgroups.thaw(ref.id)
        }
      })
      const snap = await this.get(id)
      if (!snap) throw new RuntimeError('internal', `snapshot ${id} of sandbox ${ref.id} vanished right after it was made`)
      return snap
    })
  }

  async get(id: string): Promise<SnapshotRef | undefined> {
    if (!SANDBOX_ID_RE.test(id)) return undefined
    await this.#d.pool.adopt()
    const dir = join(this.#dir, id)
    const [subvol, recorded] = (readText(join(dir, RECORD)) ?? '').trim().split(' ').map(Number)
    if (!subvol || recorded === undefined || !Number.isFinite(recorded)) return undefined
    return { id, layer: join(dir, 'upper'), ...this.#bytesOf(subvol, recorded) }
  }

  /**
   * The subvolume a sandbox started from snapshot `id` begins as a writable snapshot of; `not_found`
   * when there is no complete snapshot of that id.
   */
  async subvolumeOf(id: string): Promise<string> {
    if (!(await this.get(id))) throw new RuntimeError('not_found', `snapshot ${id} does not exist on this host; list the snapshots, or make one first`)
    return join(this.#dir, id)
  }

  async delete(id: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return // no snapshot can carry such a name
    await this.#d.pool.adopt()
    await this.#ids.run(id, () => this.#deleteSubvolume(id))
  }

  async list(): Promise<string[]> {
    await this.#d.pool.adopt()
    let names: string[]
    try {
      names = readdirSync(this.#dir)
    } catch {
      return []
    }
    return names.filter((n) => SANDBOX_ID_RE.test(n) && existsSync(join(this.#dir, n, RECORD))).sort()
  }

  /**
   * Under full qgroups the snapshot's own qgroup is exact (referenced; exclusive = what deleting frees).
   * Under simple quotas (what the pool uses on Linux 6.7+) every extent stays charged to the subvolume
   * that wrote it, so the snapshot's qgroup holds only its metadata: bytes is then what the sandbox's
   * qgroup counted at capture (the data it wrote itself, as of the last commit; data it had from its own
   * snapshot is charged to that one's writer), and exclusiveBytes cannot be told, so equals bytes.
   */
  #bytesOf(subvol: number, recorded: number): { bytes: number; exclusiveBytes: number } {
    if (this.#d.pool.quotaMode() === 'full') {
      const bytes = this.#d.pool.qgroupBytes(subvol, 'referenced')
      const exclusiveBytes = this.#d.pool.qgroupBytes(subvol, 'exclusive')
      if (bytes !== undefined && exclusiveBytes !== undefined) return { bytes, exclusiveBytes }
    }
    return { bytes: recorded, exclusiveBytes: recorded }
  }

  #deleteSubvolume(id: string): Promise<void> {
    return runHelper(this.#d.helperPath, snapshotDeleteArgv(join(this.#dir, id)), `delete snapshot ${id}`)
  }
}

function checkSnapshotId(id: string): void {
  if (typeof id !== 'string' || !SANDBOX_ID_RE.test(id)) {
    throw new RuntimeError('invalid_request', `snapshot id must be 1-63 characters of [A-Za-z0-9_-] starting with a letter or digit (got ${JSON.stringify(id)})`)
  }
}

/** Runs a `helper snapshot*` command; its "<code>: <message>" on failure becomes a RuntimeError of that code. */
function runHelper(helperPath: string, argv: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(helperPath, argv, { env: emptyEnv(), timeout: HELPER_TIMEOUT_MS, maxBuffer: 1 << 16 }, (err, _stdout, stderr) => {
      if (!err) return resolve()
      const code = typeof err.code === 'number' ? err.code : undefined
      if (err.code === 'ENOENT') return reject(new RuntimeError('runtime_unavailable', `could not run ${helperPath}: ${err.message}; run \`npm run build\` to compile it`, { cause: err }))
      const r = parseHelperReport(String(stderr).trim())
      if (code === MOUNT_FAILED && r.coded) return reject(new RuntimeError(r.code, `could not ${what}: ${r.message}`))
      reject(new RuntimeError('internal', `could not ${what}: ${String(stderr).trim() || messageOf(err)}${code === 2 ? ' (the helper is older than this runtime? run `npm run build`)' : ''}`, { cause: err }))
    })
  })
}
