import { ApiError, Template, type TemplateBuildEvent } from '@tidepool/sdk'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
let conn: { baseUrl: string; token: string }

beforeEach(async () => {
  tp = await testPlane(new FakeRuntime((r) => (r.cmd.some((a) => a.includes('fail')) ? { stderr: 'bad\n', exitCode: 4 } : { stdout: 'fine\n' })), { host: '127.0.0.1', port: 0 })
  const { url } = await tp.listen()
  conn = { baseUrl: url, token: tp.admin }
})
afterEach(() => tp.dispose())

describe('SDK Template over a real loopback server', () => {
  it('builds with streamed progress, then lists, gets and deletes', async () => {
    const events: TemplateBuildEvent[] = []
    const t = await Template.build({ name: 'sdk', steps: [{ run: 'echo x' }] }, { ...conn, onProgress: (e) => void events.push(e) })
    expect(t.layers).toHaveLength(1)
    expect(events.map((e) => e.phase)).toEqual(['resolve', 'start', 'output', 'snapshot', 'done'])
    const again = await Template.build({ name: 'sdk', steps: [{ run: 'echo x' }] }, conn)
    expect(again.lastBuild).toMatchObject({ cachedSteps: 1, builtSteps: 0 })
    expect((await Template.list(conn)).items.map((x) => x.name)).toEqual(['default', 'sdk'])
    expect((await Template.get('sdk', conn)).usedBy).toBe(0)
    await Template.delete('sdk', conn)
    await Template.delete('sdk', conn)
    await expect(Template.get('sdk', conn)).rejects.toMatchObject({ code: 'not_found' })
  })

  it('rejects with the failing step as an ApiError, streamed or not', async () => {
    const streamed = await Template.build({ name: 'f', steps: [{ run: 'fail' }] }, { ...conn, onProgress: () => {} }).catch((e: unknown) => e)
    expect(streamed).toBeInstanceOf(ApiError)
    expect(streamed).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('step 1 (run) exited with 4') })
    await expect(Template.build({ name: 'f', steps: [{ run: 'fail' }] }, conn)).rejects.toMatchObject({ code: 'invalid_request', status: 400 })
  })
})
