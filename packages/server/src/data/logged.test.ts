import { describe, expect, it } from 'vitest'
import { loggedAs } from './logged.js'

describe('loggedAs', () => {
  it('logs the failure once with what failed and resolves to undefined', async () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = []
    const log = { warn: (obj: Record<string, unknown>, msg: string) => void lines.push({ obj, msg }) }
    const err = new Error('EBUSY')
    await expect(Promise.reject(err).catch(loggedAs(log as never, 'removing clone dir', { clone: 'dcl_1' }))).resolves.toBeUndefined()
    expect(lines).toEqual([{ obj: { err, clone: 'dcl_1' }, msg: 'removing clone dir failed' }])
  })
  it('logs nothing when the step succeeds', async () => {
    const lines: unknown[] = []
    await expect(Promise.resolve(7).catch(loggedAs({ warn: (...a: unknown[]) => void lines.push(a) } as never, 'x'))).resolves.toBe(7)
    expect(lines).toEqual([])
  })
})
