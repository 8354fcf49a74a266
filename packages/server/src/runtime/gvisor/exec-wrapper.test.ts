import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseHeader, wrapperArgs } from './exec-wrapper.js'

/** Runs the wrapper on this host's sh, as its own session leader (what runsc exec makes it in gVisor). */
function runWrapper(cwd: string, cmd: string[], input = '') {
  const [sh, ...args] = wrapperArgs(cwd, cmd)
  const r = spawnSync('setsid', ['-w', sh!, ...args], { input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } })
  const [head, ...rest] = r.stdout.split('\n')
  return { header: parseHeader(head!), stdout: rest.join('\n'), stderr: r.stderr, status: r.status }
}

describe('exec wrapper', () => {
  it('writes the header with its own process group first, runs the command in the cwd, and exits with its status', () => {
    const r = runWrapper('/tmp', ['sh', '-c', 'pwd; cat; exit 7'], 'in')
    expect(r.header).toMatchObject({ kind: 'started' })
    expect(r.stdout).toBe('/tmp\nin')
    expect(r.status).toBe(7)
  })

  it('passes arguments through untouched (no re-parsing)', () => {
    expect(runWrapper('/', ['printf', '%s|', 'a b', '$HOME', '"q"']).stdout).toBe('a b|$HOME|"q"|')
  })

  it('reports a missing cwd in the header and runs nothing', () => {
    const r = runWrapper('/no/such/dir', ['sh', '-c', 'echo ran'])
    expect(r.header).toEqual({ kind: 'no-cwd' })
    expect(r.stdout).toBe('')
  })

  it('kills what the command left in its process group when it exits', () => {
    const r = runWrapper('/', ['sh', '-c', 'sleep 1000 & echo $!'])
    const pid = Number(r.stdout.trim())
    expect(pid).toBeGreaterThan(0)
    // Gone, or a zombie its new parent has not reaped yet: not running either way.
    const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone'
    expect(['gone', 'Z', 'X']).toContain(state)
  })

  it('a command that does not exist gives 127 and says not found', () => {
    const r = runWrapper('/', ['no-such-command-here'])
    expect(r.status).toBe(127)
    expect(r.stderr).toMatch(/not found/)
  })

  it('parses only the headers it writes', () => {
    expect(parseHeader('K123')).toEqual({ kind: 'started', pgid: 123 })
    expect(parseHeader('C')).toEqual({ kind: 'no-cwd' })
    expect(parseHeader('K')).toBeUndefined()
    expect(parseHeader('hello')).toBeUndefined()
  })
})
