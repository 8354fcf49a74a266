// Compiles the local runtime's helper (C, no dependencies) next to the package: native/build/tidepool-helper.
// Runs in `npm run build`; needs a C compiler (`cc`), which `.ci/run` installs when missing.
// Linked statically where the C library allows it (a static helper starts ~0.5 ms faster per exec and
// maps no shared library into a sandbox's init); falls back to a dynamic build. The result is written
// next to the target and renamed over it, so running sandboxes (whose init is this binary) never block it.
// First it writes native/build/error-codes.h from the SDK's error codes (see error-codes.mjs).
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, existsSync, readdirSync, readFileSync, statSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { errorCodesHeader, sdkErrorsFile } from './error-codes.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// tsc writes the CLI entry as 0644; npm linked `tidepool` to it at install time, before it existed.
const cli = join(root, 'dist', 'cli', 'main.js')
if (existsSync(cli)) chmodSync(cli, 0o755)
const native = join(root, 'native')
const build = join(native, 'build')
const out = join(build, 'tidepool-helper')
if (!existsSync(native)) process.exit(0)
mkdirSync(build, { recursive: true })

// The header is rewritten only when its text changes, so an unchanged one does not force a rebuild.
const header = join(build, 'error-codes.h')
const text = errorCodesHeader()
if (!existsSync(header) || readFileSync(header, 'utf8') !== text) writeFileSync(header, text)

/** The helper's sources: every native/*.c (one concern each; main.c dispatches). */
export const helperSources = readdirSync(native)
  .filter((f) => f.endsWith('.c'))
  .sort()
  .map((f) => join(native, f))
const inputs = [
  ...helperSources,
  ...readdirSync(native)
    .filter((f) => f.endsWith('.h'))
    .map((f) => join(native, f)),
  header,
  sdkErrorsFile,
]
const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs), statSync(import.meta.filename ?? fileURLToPath(import.meta.url)).mtimeMs)
if (existsSync(out) && statSync(out).mtimeMs >= newest) process.exit(0)
const cc = process.env.CC ?? 'cc'
const tmp = `${out}.tmp-${process.pid}`
const flags = ['-O2', '-Wall', '-Wextra', '-I', build, '-o', tmp, ...helperSources]
const compile = (extra) => spawnSync(cc, [...extra, ...flags], { encoding: 'utf8' })
let r = compile(['-static'])
if (r.status !== 0) r = compile([]) // no static C library here: a dynamic helper works too
process.stderr.write(r.stderr ?? '')
if (r.status !== 0) {
  rmSync(tmp, { force: true })
  console.error(`tidepool: could not compile ${native}/*.c with ${cc}; install a C compiler (apt-get install gcc). ${r.error?.message ?? ''}`)
  process.exit(1)
}
renameSync(tmp, out)
