// Compiles the local runtime's helper (C, no dependencies) next to the package: native/build/tidepool-helper.
// Runs in `npm run build`; needs a C compiler (`cc`), which `.ci/run` installs when missing.
// Linked statically where the C library allows it (a static helper starts ~0.5 ms faster per exec and
// maps no shared library into a sandbox's init); falls back to a dynamic build. The result is written
// next to the target and renamed over it, so running sandboxes (whose init is this binary) never block it.
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, existsSync, statSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// tsc writes the CLI entry as 0644; npm linked `tidepool` to it at install time, before it existed.
const cli = join(root, 'dist', 'cli', 'main.js')
if (existsSync(cli)) chmodSync(cli, 0o755)
const src = join(root, 'native', 'tidepool-helper.c')
const out = join(root, 'native', 'build', 'tidepool-helper')
if (!existsSync(src)) process.exit(0)
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0)
mkdirSync(dirname(out), { recursive: true })
const cc = process.env.CC ?? 'cc'
const tmp = `${out}.tmp-${process.pid}`
const flags = ['-O2', '-Wall', '-Wextra', '-o', tmp, src]
const compile = (extra) => spawnSync(cc, [...extra, ...flags], { encoding: 'utf8' })
let r = compile(['-static'])
if (r.status !== 0) r = compile([]) // no static C library here: a dynamic helper works too
process.stderr.write(r.stderr ?? '')
if (r.status !== 0) {
  rmSync(tmp, { force: true })
  console.error(`tidepool: could not compile ${src} with ${cc}; install a C compiler (apt-get install gcc). ${r.error?.message ?? ''}`)
  process.exit(1)
}
renameSync(tmp, out)
