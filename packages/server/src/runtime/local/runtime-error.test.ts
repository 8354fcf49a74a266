import { describe, expect, it } from 'vitest'
import { execStartError, parseHelperReport } from './runtime-error.js'

describe('helper reports', () => {
  it('reads "<code>: <message>" for every code the runtime reports', () => {
    for (const code of ['not_found', 'invalid_request', 'conflict', 'internal', 'runtime_unavailable'] as const) {
      expect(parseHelperReport(`${code}: it went wrong: badly`)).toEqual({ code, message: 'it went wrong: badly', coded: true })
    }
  })

  it('takes an unknown or missing code as internal with the whole text', () => {
    expect(parseHelperReport('tidepool-helper: open /x: No such file')).toEqual({ code: 'internal', message: 'tidepool-helper: open /x: No such file', coded: false })
    expect(parseHelperReport('bogus_code: x')).toMatchObject({ code: 'internal', coded: false })
    // An API code the runtime never reports is not taken as one.
    expect(parseHelperReport('quota_exceeded: x')).toMatchObject({ code: 'internal', coded: false })
  })

  it('adds no hint of its own to a refused exec: the helper message carries the one that fits', () => {
    const missing = execStartError('sbx1', 'invalid_request: cwd /nope does not exist; create it first or pick an existing directory')
    expect(missing).toMatchObject({ code: 'invalid_request', message: 'sandbox sbx1: cwd /nope does not exist; create it first or pick an existing directory' })
    const file = execStartError('sbx1', 'invalid_request: cwd /f is not a directory (it or a part of it is a file); pick a directory')
    expect(file.message).not.toMatch(/create it first/)
    expect(execStartError('sbx1', 'invalid_request: malformed exec request (argv, cwd or cgroup files)').message).not.toMatch(/create it first/)
    expect(execStartError('sbx1', 'not_found: sandbox init (pid 4) is gone')).toMatchObject({ code: 'not_found', message: 'sandbox sbx1 is not running: sandbox init (pid 4) is gone' })
    expect(execStartError('sbx1', 'conflict: the pids limit is reached').message).toBe('could not start the command in sandbox sbx1: the pids limit is reached')
  })
})
