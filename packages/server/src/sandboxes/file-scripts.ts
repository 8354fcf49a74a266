/** @module sandboxes/file-scripts — the small sh scripts the files service runs inside a sandbox, and what their exits mean. */
import { AppError } from '../core/errors.js'

/*
 * Each script checks what it can before it touches anything and exits with one of these codes, so the
 * server answers with the right 4xx at once instead of guessing from an error message (or hanging on a
 * FIFO). Codes over 20 are ours; 1 and 2 are what sh and coreutils use.
 */
export const exits = {
  notFound: 2,
  permission: 13,
  notDir: 20,
  isDir: 21,
  notRegular: 22,
  existsNotDir: 23,
  parentIsFile: 24,
  kernelFs: 25,
  tooLarge: 27,
} as const

/** Walks up from $1 to the first thing that exists; exits parentIsFile naming it if it is not a directory. Bounded: dirname reaches /. */
const checkAncestors = `anc() { a=$1; while [ ! -e "$a" ] && [ ! -L "$a" ]; do a=$(dirname -- "$a"); done; [ -d "$a" ] || { printf '%s\\n' "$a" >&2; exit ${exits.parentIsFile}; }; }`

/** /proc, /sys and /dev (but /dev/shm) are kernel interfaces: a symlink may lead there too. */
const kernelCase = `case "$p" in /dev/shm|/dev/shm/*) ;; /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) printf '%s\\n' "$p" >&2; exit ${exits.kernelFs};; esac`

/** $1 path, $2 byte limit. Only regular files: a FIFO would block cat forever, a device never ends. */
export const readScript = [
  'p=$1',
  `[ -e "$p" ] || exit ${exits.notFound}`,
  `[ -d "$p" ] && exit ${exits.isDir}`,
  `[ -f "$p" ] || exit ${exits.notRegular}`,
  `[ -r "$p" ] || { printf '%s: Permission denied\\n' "$p" >&2; exit ${exits.permission}; }`,
  `s=$(find -L "$p" -maxdepth 0 -printf %s) || exit 1`,
  `[ "$s" -le "$2" ] || { printf '%s\\n' "$s" >&2; exit ${exits.tooLarge}; }`,
  'exec cat -- "$p"',
].join('\n')

/**
 * $1 path, $2 temp name. Atomic: the bytes go to a temp file in the same directory, renamed over the
 * target only once stdin ended normally — so a reader sees the old file or the whole new one. Prints the
 * directory it writes in (before creating anything there) so the server can remove the temp file if the
 * command is killed. A symlink is followed (the file it names is replaced), as `cat >` would.
 */
export const writeScript = [
  checkAncestors,
  'p=$1',
  `[ -d "$p" ] && exit ${exits.isDir}`,
  'd=$(dirname -- "$p")',
  `if [ ! -d "$d" ]; then anc "$d"; mkdir -p -- "$d" || exit 1; fi`,
  'if [ -L "$p" ]; then t=$(readlink -f -- "$p") && [ -n "$t" ] && p=$t && d=$(dirname -- "$p"); fi',
  kernelCase,
  `[ -d "$p" ] && exit ${exits.isDir}`,
  `if [ -e "$p" ] && [ ! -w "$p" ]; then printf '%s: Permission denied\\n' "$p" >&2; exit ${exits.permission}; fi`,
  `[ -w "$d" ] && [ -x "$d" ] || { printf '%s: Permission denied (the directory must be writable: files are replaced atomically)\\n' "$d" >&2; exit ${exits.permission}; }`,
  'printf "%s\\n" "$d"',
  't="$d/$2"',
  // noclobber: the temp file is created with O_EXCL, so it can be nothing that was there before.
  'set -C',
  // A failure keeps cat's status: 128+N says it was killed by signal N (e.g. from inside the sandbox).
  'cat > "$t" || { s=$?; rm -f -- "$t"; exit $s; }',
  'if [ -e "$p" ]; then chmod "$(find "$p" -maxdepth 0 -printf %m)" "$t" 2>/dev/null; fi',
  'mv -f -T -- "$t" "$p" || { rm -f -- "$t"; exit 1; }',
].join('\n')

/** $1 path. An existing directory is fine (idempotent); an existing file or a file above it is a conflict. */
export const mkdirScript = [
  checkAncestors,
  'p=$1',
  '[ -d "$p" ] && exit 0',
  `if [ -e "$p" ] || [ -L "$p" ]; then exit ${exits.existsNotDir}; fi`,
  'anc "$(dirname -- "$p")"',
  'exec mkdir -p -- "$p"',
].join('\n')

/** $1 from, $2 to. Exit 2 is about `from`; 24 and 31 about `to`; mv's own failures name both. */
export const renameScript = [
  checkAncestors,
  `[ -e "$1" ] || [ -L "$1" ] || exit ${exits.notFound}`,
  'd=$(dirname -- "$2")',
  'if [ ! -d "$d" ]; then anc "$d"; mkdir -p -- "$d" || exit 31; fi',
  'exec mv -T -- "$1" "$2"',
].join('\n')

/** $1 directory, $2 depth, $3 find format. An unreadable entry below is skipped, not fatal. */
export const listScript = [
  `[ -e "$1" ] || exit ${exits.notFound}`,
  `[ -d "$1" ] || exit ${exits.notDir}`,
  `[ -r "$1" ] && [ -x "$1" ] || { printf '%s: Permission denied\\n' "$1" >&2; exit ${exits.permission}; }`,
  // find exits 1 when it could not read some entry below; what it could read is still the answer.
  'find "$1" -mindepth 1 -maxdepth "$2" -printf "$3" 2>/dev/null',
  'exit 0',
].join('\n')

/** $1 directory, $2 temp name: what a killed write may have left. */
export const cleanupScript = 'rm -f -- "$1/$2"'

type Verb = 'read' | 'write' | 'list' | 'stat' | 'remove' | 'create' | 'move'

/** The AppError for a failed file command: names the input field, the path, the rule, and what to do. */
export function fileError(verb: Verb, field: string, path: string, code: number, stderr: string): AppError {
  const why = firstLine(stderr)
  // Our own exit codes first: they are certain. Then sh/coreutils messages (sh exits 2 for a refused redirection too).
  switch (code) {
    case exits.notFound:
      if (!/Permission denied|File name too long/.test(stderr)) return new AppError('not_found', `${field}: ${path} does not exist in the sandbox`)
      break
    case exits.permission:
      return denied(verb, field, path, why)
    case exits.notDir:
      return new AppError('invalid_request', `${field}: ${path} is not a directory; read it without ?list=1, or list its parent`)
    case exits.isDir:
      return new AppError('invalid_request', verb === 'read' ? `${field}: ${path} is a directory; list it with ?list=1` : `${field}: ${path} is a directory; name a file inside it, or remove it first`)
    case exits.notRegular:
      return new AppError('invalid_request', `${field}: ${path} is not a regular file (a FIFO, socket or device, which may never end); read it with exec instead`)
    case exits.existsNotDir:
      return new AppError('conflict', `${field}: ${path} exists and is not a directory; remove it first or pick another path`)
    case exits.parentIsFile:
      return new AppError('conflict', `${field}: ${why || 'a parent'} is a file, not a directory, so ${path} cannot be created under it; remove it first or pick another path`)
    case exits.kernelFs:
      return kernelFsError(field, why || path)
    case exits.tooLarge:
      return new AppError('payload_too_large', `${field}: ${path} is ${why} bytes, over files.maxReadBytes; read it in parts with exec (e.g. head -c / tail -c)`)
  }
  if (/File name too long/.test(stderr)) return new AppError('invalid_request', `${field}: a name in ${path} is too long (at most 255 bytes per name, 4096 per path)`)
  if (/Permission denied|Read-only file system|Operation not permitted/.test(stderr)) return denied(verb, field, path, why)
  if (/No space left|Disk quota exceeded/.test(stderr)) {
    return new AppError('quota_exceeded', `${field}: no space left in the sandbox writing ${path}; remove files or give the sandbox more disk`, {
      scope: 'sandbox:disk',
      limit: 0,
      used: 0,
      retryAfter: 1,
    })
  }
  if (/No such file/.test(stderr)) return new AppError('not_found', `${field}: ${path} (or a directory above it) does not exist in the sandbox`)
  if (/Not a directory/.test(stderr)) return new AppError('conflict', `${field}: a part of ${path} is a file, not a directory; pick another path`)
  if (/Directory not empty|cannot overwrite|File exists/.test(stderr)) return new AppError('conflict', `${field}: ${path} exists and cannot be replaced (${why}); remove it first`)
  if (/subdirectory of itself/.test(stderr)) return new AppError('invalid_request', `${field}: cannot move a directory into itself (${why})`)
  return new AppError('internal', `could not ${verb} ${path} (exit ${code}): ${why}`)
}

export function kernelFsError(field: string, path: string): AppError {
  return new AppError('invalid_request', `${field}: ${path} is under /proc, /sys or /dev: kernel interfaces, not files; the files API does not change them (use exec if you mean to)`, [
    { path: field, message: 'under /proc, /sys or /dev' },
  ])
}

function denied(verb: Verb, field: string, path: string, why: string): AppError {
  return new AppError('policy_denied', `${field}: the sandbox user may not ${verb} ${path} (${why || 'permission denied'}); use a path it owns, e.g. under /home/user or /workspace`)
}

const firstLine = (s: string) => s.trim().split('\n')[0]?.slice(0, 300) ?? ''
