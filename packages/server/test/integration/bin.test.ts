/**
 * The README's `npx tidepool …` on the checkout the tests run in (CI runs on a fresh clone after `npm ci`
 * and `npm run build`): npm links a workspace's bin only if its target exists at install time, so the bin
 * must be a committed file, not something under `dist/`.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))
const serverDir = fileURLToPath(new URL('../../', import.meta.url))
const linked = `${repoRoot}node_modules/.bin/tidepool`
const pkg = JSON.parse(readFileSync(`${serverDir}package.json`, 'utf8')) as { bin: Record<string, string>; version: string }

describe('the tidepool bin', () => {
  it('points at a committed file, so npm can link it before the build', () => {
    const target = pkg.bin.tidepool ?? ''
    expect(target).not.toMatch(/dist\//)
    const tracked = spawnSync('git', ['ls-files', '--error-unmatch', target], { cwd: serverDir, encoding: 'utf8' })
    expect(tracked.status, `${target} is not tracked by git: ${tracked.stderr}`).toBe(0)
  })

  it('node_modules/.bin/tidepool --version answers after npm ci && npm run build', () => {
    expect(existsSync(linked), `${linked} missing: npm did not link the bin at install`).toBe(true)
    const r = spawnSync(linked, ['--version'], { cwd: repoRoot, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(`tidepool ${pkg.version}\n`)
    expect(r.status).toBe(0)
  })

  it('npx tidepool --help answers from the repository root, without fetching anything', () => {
    const r = spawnSync('npx', ['--no-install', 'tidepool', '--help'], { cwd: repoRoot, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^tidepool \S+ — ephemeral sandboxes/)
  })
})
