/** @module contract/ports — reaching a server that listens inside a sandbox (port exposure). */
import { z } from 'zod'
import type { Operation } from './operation.js'
import { SandboxId } from './sandbox.js'

const tags = ['ports']

/** A TCP port inside the sandbox (path parameters arrive as text). */
export const PortNumber = z.coerce.number().int().min(1).max(65_535).describe('A TCP port inside the sandbox, 1-65535.')

export const PortRef = z.object({ id: SandboxId, port: PortNumber }).strict()

export const SetPortPublicInput = z
  .object({ id: SandboxId, port: PortNumber, enabled: z.boolean().describe('true: requests on the host-name form need no token; false: they do again.') })
  .strict()
  .meta({ id: 'SetPortPublicInput' })

export const PortExposure = z
  .object({
    sandboxId: SandboxId,
    port: z.number().int(),
    public: z.boolean().describe('Token-less requests on the host-name form reach the port (until the sandbox ends).'),
  })
  .meta({ id: 'PortExposure' })
export type PortExposure = z.infer<typeof PortExposure>

export const portsOps = {
  connectPort: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/ports/{port}',
    summary:
      'Proxy to a server inside the sandbox: any method and any path below this one (also http://{port}-{id}.sandbox.localhost:<api port>/), streaming responses and WebSocket upgrades; GET here returns its / as bytes',
    scope: 'sandboxes:write',
    input: PortRef,
    output: 'raw',
    tunnel: true,
    tags,
  },
  setPortPublic: {
    method: 'PUT',
    path: '/v1/sandboxes/{id}/ports/{port}/public',
    summary: 'Let token-less requests reach a port on its host-name URL (off by default; ends with the sandbox)',
    scope: 'sandboxes:write',
    input: SetPortPublicInput,
    output: PortExposure,
    tags,
  },
} as const satisfies Record<string, Operation>
