// Compiles the local runtime's helper (C, no dependencies) next to the package: native/build/tidepool-helper.
// Runs in `npm run build`; needs a C compiler (`cc`), which `.ci/run` installs when missing.
import { execFileSync } from 'node:child_process'
import { mkdirSync, existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'native', 'tidepool-helper.c')
const out = join(root, 'native', 'build', 'tidepool-helper')
if (!existsSync(src)) process.exit(0)
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0)
mkdirSync(dirname(out), { recursive: true })
const cc = process.env.CC ?? 'cc'
try {
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-o', out, src], { stdio: 'inherit' })
} catch (err) {
  console.error(`tidepool: could not compile ${src} with ${cc}; install a C compiler (apt-get install gcc). ${err.message}`)
  process.exit(1)
}
