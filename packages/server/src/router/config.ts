/** @module router/config — the `router` section of the config: where the request router listens and how long it waits. */
import { z } from 'zod'

export const RouterConfig = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address the router listens on (tidepool up and tidepool router).'),
    port: z.number().int().min(0).max(65_535).default(7071).describe('Port of the router; routed URLs are http://<service>.<env>.localhost:<port>.'),
    connectTimeoutMs: z.number().int().min(1).default(5000).describe('Connecting to an upstream taking longer gets 504 naming it.'),
    responseTimeoutMs: z
      .number()
      .int()
      .min(1)
      .default(30_000)
      .describe('An upstream that sends no response headers within this gets 504 naming it (streaming bodies after the headers are not limited).'),
    maxSocketsPerUpstream: z.number().int().min(1).default(256).describe('Keep-alive pool size per upstream.'),
    trustRoutingHeaders: z
      .boolean()
      .default(true)
      .describe(
        'true (loopback, inside a cluster): routing keys from every client count. false (a public edge): baggage tidepool-route and x-tidepool-route are stripped unless the request carries x-tidepool-route-token with a valid tidepool token.',
      ),
  })
  .strict()
export type RouterConfig = z.infer<typeof RouterConfig>
