/**
 * The helper's C unit tests (native/test/unit.c), compiled with `cc` and run here so `npm test` runs them;
 * and the one-list rule for error codes: the helper's codes come from the SDK's, and no C source names
 * a code the SDK does not have.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { errorCodes } from '@tidepool/sdk'
import { afterAll, describe, expect, it } from 'vitest'
import { errorCodesHeader, sdkErrorCodes } from '../../../scripts/error-codes.mjs'
import { runtimeErrorCodes } from './runtime-error.js'
import { childEnv } from '../../core/child-env.js'

const native = fileURLToPath(new URL('../../../native/', import.meta.url))
const sources = readdirSync(native).filter((f) => /\.[ch]$/.test(f))
const work = mkdtempSync(join(tmpdir(), 'tidepool-native-test-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Compiles the unit tests with the helper's pure modules (and the generated header) and runs them. */
function runUnit(defines: string[] = []): { status: number | null; out: string } {
  const header = join(work, 'error-codes.h')
  writeFileSync(header, errorCodesHeader())
  const bin = join(work, `unit${defines.length ? '-fail' : ''}`)
  const modules = ['args.c', 'util.c', 'frame.c', 'mounts.c', 'exec-request.c', 'exec-command.c', 'snapshot-paths.c', 'port-forward.c'].map((f) => join(native, f))
  const cc = spawnSync(process.env.CC ?? 'cc', ['-O1', '-Wall', '-Wextra', '-Werror', ...defines, '-I', work, '-o', bin, join(native, 'test', 'unit.c'), ...modules], {
    encoding: 'utf8',
    env: childEnv(),
  })
  if (cc.status !== 0) return { status: cc.status, out: `cc failed:\n${cc.stderr}${cc.error?.message ?? ''}` }
  const run = spawnSync(bin, [], { encoding: 'utf8', env: {} })
  return { status: run.status, out: run.stdout + run.stderr }
}

describe('native helper', () => {
  it('passes its C unit tests', () => {
    const r = runUnit()
    expect(r.out).toMatch(/\d+ checks, 0 failed/)
    expect(r.status, r.out).toBe(0)
  })

  it('fails the run when a C check fails (the harness can fail)', () => {
    const r = runUnit(['-DTP_EXPECT_FAILURE'])
    expect(r.out).toMatch(/FAIL .*unit\.c:\d+/)
    expect(r.out).toMatch(/\d+ checks, 1 failed/)
    expect(r.status).toBe(1)
  })

  it('generates its error codes from the SDK list, in the SDK order', () => {
    expect(sdkErrorCodes()).toEqual(errorCodes)
    const r = runUnit()
    expect([...r.out.matchAll(/^code (\w+)$/gm)].map((m) => m[1])).toEqual(errorCodes)
  })

  it('names no error code the SDK does not have, and none the runtime cannot map', () => {
    const named = new Set<string>()
    for (const f of sources) {
      const text = readFileSync(join(native, f), 'utf8')
      for (const m of text.matchAll(/\bTP_ERR_([A-Z_]+)\b/g)) if (m[1] !== '_COUNT') named.add(m[1]!.toLowerCase())
      // A code spelled out in a message ("conflict: …") would bypass the generated enum.
      for (const m of text.matchAll(/"([a-z_]+): /g)) if ((errorCodes as string[]).includes(m[1]!)) named.add(`literal:${m[1]}`)
    }
    expect([...named].filter((c) => c.startsWith('literal:'))).toEqual([])
    expect(named.size).toBeGreaterThan(3)
    for (const code of named) {
      expect(errorCodes, `the helper names ${code}`).toContain(code)
      expect(runtimeErrorCodes, `the helper reports ${code}, which runtime-error.ts does not map`).toContain(code)
    }
  })

  it('refuses an SDK errors file without a code list', () => {
    expect(() => sdkErrorCodes('export const other = {}')).toThrow(/errorStatus/)
    expect(sdkErrorCodes('export const errorStatus = {\n  a_b: 400,\n  c: 500,\n} as const')).toEqual(['a_b', 'c'])
  })
})
