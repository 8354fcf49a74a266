/** @module e2b/mount — the E2B-compatible endpoint on the API's own port: REST on the app, envd in front of it. */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { Hono } from 'hono'
import type { Services } from '../dispatch/services.js'
import { createEnvdHandler, envdSandboxOf, isSignedFileUrl } from './envd/server.js'
import { loadOrCreateSecret } from './keys.js'
import { mountE2bRest } from './rest.js'
import { AccessTokens } from './signed-urls.js'

/** The host-name suffix of sandbox ports, shared with tidepool's own port exposure (http/port-target.ts). */
export const E2B_SANDBOX_DOMAIN = 'sandbox.localhost'

export interface E2bMount {
  /** For @hono/node-server's `createServer`: envd requests go to envd, the rest to the app. */
  createServer: typeof createServer
  /** Tell the mount the port the server listens on (the domain the SDK builds host names with). */
  setPort(port: number): void
}

export function mountE2b(app: Hono, svc: Services, home: string): E2bMount {
  const secret = loadOrCreateSecret(join(home, 'e2b.key'))
  let port = svc.config.port
  const tokens = new AccessTokens()
  mountE2bRest(app, svc, { secret, tokens, domain: () => `${E2B_SANDBOX_DOMAIN}:${port}` })
  const envd = createEnvdHandler(svc, secret, tokens)
  const wrap =
    (listener: RequestListener): RequestListener =>
    (req: IncomingMessage, res: ServerResponse) => {
      const id = envdSandboxOf(req)
      // A signed file URL fetched by a plain client names no sandbox: its signature does (envd/server.ts).
      if (id === undefined && isSignedFileUrl(req.url)) envd(req, res, undefined)
      else if (id === undefined) listener(req, res)
      else envd(req, res, id)
    }
  const server = ((opts: object, listener: RequestListener) => createServer(opts, wrap(listener))) as unknown as typeof createServer
  return { createServer: server, setPort: (p) => (port = p) }
}
