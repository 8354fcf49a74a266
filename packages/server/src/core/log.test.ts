import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from './log.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('createLogger with a file target', () => {
  it('writes every line at the level to the file and only warnings and worse to stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-log-'))
    dirs.push(dir)
    const file = join(dir, 'logs', 'tidepool.log')
    const stderr: string[] = []
    const log = createLogger('info', { file, stderrLevel: 'warn', stderr: { write: (l: string) => stderr.push(l) } })
    log.debug('not at this level')
    log.info({ op: 'createSandbox' }, 'request')
    log.child({ requestId: 'r1' }).warn('slow')
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number })
    expect(lines.map((l) => l.msg)).toEqual(['request', 'slow'])
    expect(stderr.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['slow'])
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('never writes a token to the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-log-'))
    dirs.push(dir)
    const file = join(dir, 'tidepool.log')
    createLogger('info', { file, stderrLevel: 'silent' }).info({ token: 'tp_secret', body: { token: 'tp_secret2' } }, 'x')
    expect(readFileSync(file, 'utf8')).not.toContain('tp_secret')
  })
})
