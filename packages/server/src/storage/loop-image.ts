/** @module storage/loop-image — a sparse XFS image (reflink=1) that tidepool creates, loop-mounts and unmounts. */
import { chmod, mkdir, open, readFile, rm, rmdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { hostPath } from '../core/child-env.js'
import type { Logger } from '../core/log.js'
import { retry } from '../core/retry.js'
import { CommandError, runCommand } from './run-command.js'

export interface LoopImageOptions {
  image: string
  mountPoint: string
  sizeMb: number
  log?: Logger
}

const sbinPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
// Only PATH (with the sbin dirs): runCommand builds the rest of the child's environment (core/child-env.ts).
const env = () => ({ PATH: `${hostPath()}:${sbinPath}` })

/** The first of mkfs.xfs / mount / umount / losetup that is missing, or undefined when all are present. */
export async function xfsToolsMissing(): Promise<string | undefined> {
  for (const tool of ['mkfs.xfs', 'mount', 'umount', 'losetup']) if (!(await onPath(tool))) return tool
  return undefined
}

async function onPath(tool: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...sbinPath.split(':')].filter(Boolean)
  for (const d of dirs) if (await exists(`${d}/${tool}`)) return true
  return false
}

/** Mount points currently in this mount namespace (octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8')
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
}

export async function isMounted(mountPoint: string): Promise<boolean> {
  return (await mountPoints()).includes(resolve(mountPoint))
}

/** Loop devices backed by `image` (e.g. left behind by a crash between losetup and mount). */
export async function loopDevicesOf(image: string): Promise<string[]> {
  const r = await runCommand('losetup', ['-j', resolve(image)], { env: env(), allowFailure: true })
  return r.stdout
    .split('\n')
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((d) => d.startsWith('/dev/'))
}

/**
 * Makes sure `image` exists (sparse, mkfs.xfs -m reflink=1) and is mounted at `mountPoint`, with
 * `discard` so space freed inside is returned to the host filesystem. Adopts an existing mount. The
 * image holds every byte of the data inside: it is 0600, in a dir created 0700 (an image an older
 * version made 0644 is tightened).
 */
export async function mountImage(o: LoopImageOptions): Promise<{ created: boolean; adopted: boolean }> {
  const image = resolve(o.image)
  const mountPoint = resolve(o.mountPoint)
  if (await isMounted(mountPoint)) {
    o.log?.info({ image, mountPoint }, 'storage pool: adopting mounted image')
    return { created: false, adopted: true }
  }
  let created = false
  if (await exists(image)) {
    if (((await stat(image)).mode & 0o077) !== 0) await chmod(image, 0o600)
  } else {
    await mkdir(dirname(image), { recursive: true, mode: 0o700 })
    const fh = await open(image, 'wx', 0o600)
    try {
      await fh.truncate(o.sizeMb * 1_048_576)
    } finally {
      await fh.close()
    }
    try {
      await runCommand('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', 'tidepool', image], { env: env() })
    } catch (err) {
      await rm(image, { force: true })
      throw err
    }
    created = true
    o.log?.info({ image, sizeMb: o.sizeMb }, 'storage pool: created XFS image')
  }
  // A loop device still attached to the image without a mount is a leftover: release it first.
  for (const dev of await loopDevicesOf(image)) await runCommand('losetup', ['-d', dev], { env: env(), allowFailure: true })
  await mkdir(mountPoint, { recursive: true })
  try {
    await runCommand('mount', ['-t', 'xfs', '-o', 'loop,discard,noatime', image, mountPoint], { env: env() })
  } catch (err) {
    await rmdir(mountPoint).catch(() => undefined)
    throw err
  }
  return { created, adopted: false }
}

/** Bind-mounts the directory `src` at `mountPoint` (created), so it can be reached by another path. Adopts an existing mount. */
export async function bindMount(src: string, mountPoint: string): Promise<void> {
  const mp = resolve(mountPoint)
  if (await isMounted(mp)) return
  await mkdir(mp, { recursive: true })
  try {
    await runCommand('mount', ['--bind', resolve(src), mp], { env: env() })
  } catch (err) {
    await rmdir(mp).catch(() => undefined)
    throw err
  }
}

/** Unmounts (which also frees the auto-cleared loop device) and removes the mount point dir. Idempotent. Also undoes bindMount. */
export async function unmountImage(mountPoint: string): Promise<void> {
  const mp = resolve(mountPoint)
  // EBUSY right after the last process exits is common: retry briefly (unmounting each stacked mount). Still
  // busy: detach it lazily (gone from the mount table now; the loop device goes when the last user lets go) and say so.
  try {
    await retry(
      async () => {
        while (await isMounted(mp)) await runCommand('umount', [mp], { env: env() })
      },
      { attempts: 20, delayMs: (attempt) => 50 * (attempt + 1) },
    )
  } catch (err) {
    await runCommand('umount', ['-l', mp], { env: env() })
    throw new Error(`${mp} was busy (${err instanceof CommandError ? err.result.stderr.trim() : String(err)}); detached it lazily — its loop device is freed once what uses it exits`)
  }
  await rmdir(mp).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e
  })
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}
