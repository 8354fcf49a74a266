import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { runCommand } from '../storage/run-command.js'
import { childEnv, emptyEnv } from './child-env.js'

const proto = Object.prototype as Record<string, unknown>
afterEach(() => {
  delete proto.LD_PRELOAD
  delete proto.TIDEPOOL_POLLUTED
})

/** `env -0` output → the child's environment as a map. */
function parseEnv(out: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of out.split('\0').filter(Boolean)) {
    const eq = line.indexOf('=')
    env[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return env
}

describe('child environments', () => {
  it('runCommand gives a child exactly the allow-listed variables, even with a polluted Object.prototype', async () => {
    proto.LD_PRELOAD = '/tmp/evil.so'
    proto.TIDEPOOL_POLLUTED = 'yes'
    // No env given: not process.env, only PATH and LC_ALL.
    const bare = parseEnv((await runCommand('env', ['-0'])).stdout)
    expect(Object.keys(bare).sort()).toEqual(['LC_ALL', 'PATH'])
    expect(bare.LC_ALL).toBe('C')
    const pg = parseEnv((await runCommand('env', ['-0'], { env: { PGUSER: 'tp', PGPASSWORD: undefined } })).stdout)
    expect(Object.keys(pg).sort()).toEqual(['LC_ALL', 'PATH', 'PGUSER'])
  })

  it('refuses a variable outside the allow-list (a programming error, loud)', () => {
    expect(() => childEnv({ LD_PRELOAD: '/x.so' })).toThrow(/LD_PRELOAD is not in the allow-list/)
    expect(() => childEnv({ NODE_OPTIONS: '--require /x' })).toThrow(/allow-list/)
  })

  it('an in-sandbox helper gets an empty environment that inherits nothing', async () => {
    proto.LD_PRELOAD = '/tmp/evil.so'
    const env = emptyEnv()
    expect(Object.getPrototypeOf(env)).toBeNull()
    const child = spawn('/usr/bin/env', ['-0'], { env, stdio: ['ignore', 'pipe', 'ignore'] })
    const chunks: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => chunks.push(b))
    await new Promise((r) => child.on('close', r))
    expect(parseEnv(Buffer.concat(chunks).toString())).toEqual({})
  })
})
