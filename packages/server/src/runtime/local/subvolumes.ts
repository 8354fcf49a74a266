/** @module runtime/local/subvolumes — the helper's btrfs commands on the disk pool (snapshot, subvolume-delete), their failures as RuntimeErrors. */
import { execFile } from 'node:child_process'
import { emptyEnv } from '../../core/child-env.js'
import { MOUNT_FAILED, snapshotArgv, subvolumeDeleteArgv } from './helper-args.js'
import { RuntimeError, messageOf, parseHelperReport } from './runtime-error.js'

const HELPER_TIMEOUT_MS = 60_000

/** Captures subvolume `source` read-only at `dest`; resolves with the new subvolume's id. */
export async function snapshotSubvolume(helperPath: string, source: string, dest: string, what: string): Promise<number> {
  const id = Number((await runHelper(helperPath, snapshotArgv({ source, dest }), what)).trim())
  if (!Number.isInteger(id) || id <= 0) throw new RuntimeError('internal', `could not ${what}: tidepool-helper printed no subvolume id`)
  return id
}

/**
 * Deletes the subvolume at `path` whatever it holds, in O(1) (the kernel frees its extents in the
 * background); a missing one is fine. `invalid_request` when `path` is no subvolume.
 */
export async function deleteSubvolume(helperPath: string, path: string, what: string): Promise<void> {
  await runHelper(helperPath, subvolumeDeleteArgv(path), what)
}

/** Runs a helper command; its "<code>: <message>" on failure becomes a RuntimeError of that code. */
function runHelper(helperPath: string, argv: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(helperPath, argv, { env: emptyEnv(), timeout: HELPER_TIMEOUT_MS, maxBuffer: 1 << 16 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout))
      if (err.code === 'ENOENT') return reject(new RuntimeError('runtime_unavailable', `could not run ${helperPath}: ${err.message}; run \`npm run build\` to compile it`, { cause: err }))
      const code = typeof err.code === 'number' ? err.code : undefined
      const report = String(stderr).trim()
      const r = parseHelperReport(report)
      if (code === MOUNT_FAILED && r.coded) return reject(new RuntimeError(r.code, `could not ${what}: ${r.message}`))
      reject(new RuntimeError('internal', `could not ${what}: ${report || messageOf(err)}${code === 2 ? ' (the helper is older than this runtime? run `npm run build`)' : ''}`, { cause: err }))
    })
  })
}
