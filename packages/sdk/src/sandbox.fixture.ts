/** A running sandbox as the API returns it, for the SDK's own tests (excluded from the package build). */
export function sandboxInfo(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    project: 'p',
    state: 'running',
    reason: 'created',
    template: 'default',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    expiresAt: '2026-01-01T00:05:00Z',
    timeoutMs: 300000,
    lifecycle: { onTimeout: 'kill', autoResume: false },
    resources: { cpu: 1, memoryMb: 512, pids: 256 },
    envKeys: [],
    metadata: {},
    ...over,
  }
}
