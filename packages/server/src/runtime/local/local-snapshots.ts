/**
 * @module runtime/local/local-snapshots — RuntimeSnapshots of the local runtime: a snapshot is a
 * capture of a sandbox's layer by the layer driver (layer-driver.ts) at `<pool>/.snapshots/<id>` (its
 * `upper/` is the layer: `root/`, and `usr/` for host templates): a read-only btrfs snapshot (O(1) in
 * bytes and files), or a reflink clone / copy of upper/. Complete once its record
 * `<pool>/.snapshots/<id>.rec` exists (written after the capture, removed before the delete).
 */
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KeyedMutex } from '../../core/mutex.js'
import type { RuntimeRef, RuntimeSnapshots, SnapshotRef } from '../runtime.js'
import { SANDBOX_ID_RE, checkSandboxId } from '../sandbox-checks.js'
import type { Cgroups } from './cgroups/cgroups.js'
import { readText } from './host-files.js'
import type { LayerDriver } from './layer-driver.js'
import { sandboxPaths, snapshotsDir } from './mounts.js'
import { isRunning } from './proc.js'
import { RuntimeError } from './runtime-error.js'

/** A snapshot's record beside it: "<subvolume id> <bytes at capture>". Ids hold no '.', so it is never an id. */
const recordOf = (dir: string, id: string) => join(dir, `${id}.rec`)
/** In a sandbox's dir while a capture has it frozen. */
const CAPTURE_MARKER = 'capture-frozen'

export interface LocalSnapshotsDeps {
  dataDir: string
  layers: LayerDriver
  cgroups: Cgroups
  /** Per sandbox: pause, resume and a snapshot's freeze–capture–thaw never interleave (a thaw must not undo a pause). */
  freezeLock: KeyedMutex
}

export class LocalSnapshots implements RuntimeSnapshots {
  readonly #d: LocalSnapshotsDeps
  readonly #dir: string
  /** Per snapshot id: its create and delete never interleave. */
  readonly #ids = new KeyedMutex()
  /** Ids being created in this process (no record yet, and not to be swept as unfinished). */
  readonly #creating = new Set<string>()
  /** Sandboxes a capture of this process has frozen now. */
  readonly #capturing = new Set<string>()

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
    await this.#d.layers.ensure()
    return this.#ids.run(id, () => {
      this.#creating.add(id)
      return this.#capture(ref, id, gone).finally(() => this.#creating.delete(id))
    })
  }

  async #capture(ref: RuntimeRef, id: string, gone: () => RuntimeError): Promise<SnapshotRef> {
    const dest = join(this.#dir, id)
    if (existsSync(recordOf(this.#dir, id))) throw new RuntimeError('invalid_request', `snapshot ${id} exists already; choose another id or delete it first`)
    // A capture a crash cut short (no record): never complete, never used.
    if (existsSync(dest)) await this.#d.layers.remove(dest, `remove the unfinished snapshot ${id}`)
    const source = sandboxPaths(this.#d.dataDir, ref.id).dir
    let subvolume = 0
    let bytes = 0
    await this.#d.freezeLock.run(ref.id, async () => {
      if (!isRunning(ref.pid, ref.startTime)) throw gone()
      const paused = this.#d.cgroups.state(ref.id) === 'frozen'
      // The marker says "frozen by a capture, not paused": a server killed before the thaw leaves it, and
      // settleCapture() thaws the sandbox on the next look instead of taking it for paused.
      const marker = join(source, CAPTURE_MARKER)
      this.#capturing.add(ref.id)
      try {
        if (!paused) {
          try {
            writeFileSync(marker, `${id}\n`, { mode: 0o600 })
          } catch (err) {
            // A full pool has no room even for the marker: nothing is frozen or captured yet.
            const full = (err as NodeJS.ErrnoException).code === 'ENOSPC'
            throw new RuntimeError(
              full ? 'conflict' : 'internal',
              `could not snapshot sandbox ${ref.id} as ${id}: ${full ? 'disk_full: the storage pool has no room left; delete sandboxes or snapshots to free space' : (err as Error).message}`,
              { cause: err },
            )
          }
          await this.#d.cgroups.freeze(ref.id)
        }
        // btrfs: still frozen, and the capture committed a transaction: the layer's qgroup counts what it holds now.
        ;({ subvolume, bytes } = await this.#d.layers.capture(source, dest, `snapshot sandbox ${ref.id} as ${id}`))
      } finally {
        if (!paused) {
          await this.#d.cgroups.thawAndWait(ref.id)
          rmSync(marker, { force: true })
        }
        this.#capturing.delete(ref.id)
      }
    })
    try {
      const rec = recordOf(this.#dir, id)
      writeFileSync(`${rec}.tmp`, `${subvolume} ${bytes}\n`, { mode: 0o600 })
      renameSync(`${rec}.tmp`, rec)
    } catch (err) {
      rmSync(`${recordOf(this.#dir, id)}.tmp`, { force: true })
      await this.#d.layers.remove(dest, `remove the unfinished snapshot ${id}`)
      throw err
    }
    return { id, layer: join(dest, 'upper'), ...(await this.#d.layers.snapshotUsage(dest, subvolume, bytes)) }
  }

  /**
   * Thaws a sandbox a capture froze when the capture never finished (the server was killed between the
   * freeze and the thaw), so it is not mistaken for paused; a no-op otherwise.
   */
  async settleCapture(sandboxId: string): Promise<void> {
    const marker = join(sandboxPaths(this.#d.dataDir, sandboxId).dir, CAPTURE_MARKER)
    if (!existsSync(marker)) return
    await this.#d.freezeLock.run(sandboxId, async () => {
      if (!existsSync(marker) || this.#capturing.has(sandboxId)) return
      await this.#d.cgroups.thawAndWait(sandboxId)
      rmSync(marker, { force: true })
    })
  }

  async get(id: string): Promise<SnapshotRef | undefined> {
    if (!SANDBOX_ID_RE.test(id)) return undefined
    await this.#d.layers.adopt()
    const dir = join(this.#dir, id)
    const rec = this.#record(id)
    if (!rec) return undefined
    return { id, layer: join(dir, 'upper'), ...(await this.#d.layers.snapshotUsage(dir, rec.subvolume, rec.bytes)) }
  }

  /** The record of a complete snapshot (its subvolume id, 0 on a dir driver; bytes at capture), or undefined. */
  #record(id: string): { subvolume: number; bytes: number } | undefined {
    const [subvolume, bytes] = (readText(recordOf(this.#dir, id)) ?? '').trim().split(' ').map(Number)
    if (subvolume === undefined || !Number.isInteger(subvolume) || subvolume < 0 || bytes === undefined || !Number.isFinite(bytes)) return undefined
    return { subvolume, bytes }
  }

  /**
   * The subvolume a sandbox started from snapshot `id` begins as a writable snapshot of; `not_found`
   * when there is no complete snapshot of that id.
   */
  async subvolumeOf(id: string): Promise<string> {
    if (!SANDBOX_ID_RE.test(id)) throw new RuntimeError('not_found', `snapshot ${JSON.stringify(id)} does not exist on this host`)
    await this.#d.layers.adopt()
    if (!this.#record(id)) throw new RuntimeError('not_found', `snapshot ${id} does not exist on this host; list the snapshots, or make one first`)
    return join(this.#dir, id)
  }

  async delete(id: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return // no snapshot can carry such a name
    await this.#d.layers.adopt()
    await this.#ids.run(id, async () => {
      rmSync(recordOf(this.#dir, id), { force: true }) // incomplete from here on: no start can pick it
      await this.#d.layers.remove(join(this.#dir, id), `delete snapshot ${id}`)
    })
  }

  async list(): Promise<string[]> {
    await this.#d.layers.adopt()
    let names: string[]
    try {
      names = readdirSync(this.#dir)
    } catch {
      return []
    }
    const all = new Set(names)
    const ids = names.filter((n) => SANDBOX_ID_RE.test(n))
    // A capture a crash cut short has no record: nobody can use it, so it goes (unless being made now).
    for (const id of ids.filter((n) => !all.has(`${n}.rec`) && !this.#creating.has(n))) {
      await this.#ids.run(id, () => (existsSync(recordOf(this.#dir, id)) ? Promise.resolve() : this.#d.layers.remove(join(this.#dir, id), `remove the unfinished snapshot ${id}`)))
    }
    return ids.filter((n) => all.has(`${n}.rec`)).sort()
  }
}

function checkSnapshotId(id: string): void {
  if (typeof id !== 'string' || !SANDBOX_ID_RE.test(id)) {
    throw new RuntimeError('invalid_request', `snapshot id must be 1-63 characters of [A-Za-z0-9_-] starting with a letter or digit (got ${JSON.stringify(id)})`)
  }
}
