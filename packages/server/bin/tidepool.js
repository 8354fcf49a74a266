#!/usr/bin/env node
// The `tidepool` bin. npm links a workspace's bin at install time only if its target exists, and
// `dist/` is built after `npm ci`; this committed file always exists, so `npx tidepool` works on a
// fresh clone once `npm run build` has run, and says what to do when it has not.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(`tidepool: ${fileURLToPath(main)} is not built yet; run \`npm run build\` first (in the repository's root)\n`)
  process.exit(1)
}
await import(main.href)
