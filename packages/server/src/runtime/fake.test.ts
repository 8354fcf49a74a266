import { describe, expect, it } from 'vitest'
import { FakeRuntime } from './fake.js'

describe('FakeRuntime bindMount', () => {
  it('records binds per sandbox; unbind and destroy forget them', async () => {
    const rt = new FakeRuntime()
    const ref = await rt.start({ id: 'sbx_f', template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 64, pids: 16 }, denyRead: [] })
    await rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })
    expect(rt.mounts.get('sbx_f')?.get('/run/postgresql')).toEqual({ source: '/host/pg', target: '/run/postgresql' })
    await rt.unbindMount(ref, '/run/postgresql')
    await rt.unbindMount(ref, '/run/postgresql')
    expect(rt.mounts.get('sbx_f')?.size).toBe(0)
    await rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })
    await rt.destroy('sbx_f')
    expect(rt.mounts.has('sbx_f')).toBe(false)
    await expect(rt.bindMount(ref, { source: '/host/pg', target: '/run/postgresql' })).rejects.toThrow(/no sandbox/)
  })
})
