import { describe, expect, it } from 'vitest'
import { pidsCeiling, readHostTasks } from './host-limits.js'

describe('pidsCeiling', () => {
  it('leaves half of the smaller kernel limit to the host', () => {
    expect(pidsCeiling({ pidMax: 32_768, threadsMax: 192_726 })).toBe(16_384)
    expect(pidsCeiling({ pidMax: 4_194_304, threadsMax: 10_000 })).toBe(5_000)
  })
  it('reads the proc files, with the kernel default for a missing or bad one', () => {
    const files: Record<string, string> = { '/proc/sys/kernel/pid_max': '32768\n', '/proc/sys/kernel/threads-max': 'junk' }
    expect(readHostTasks((f) => files[f])).toEqual({ pidMax: 32_768, threadsMax: 32_768 })
  })
})
