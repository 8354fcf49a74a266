/** @module cli/commands/e2b — `tidepool e2b env`: the variables that point the unmodified e2b SDKs at this server. */
import { apiKeyOf } from '../../e2b/keys.js'
import type { CliCommand } from '../command.js'

/** The export lines for a server URL and token (E2B_API_KEY is the token in the `e2b_<hex>` form the SDKs accept). */
export function e2bEnv(baseUrl: string, token: string): Record<string, string> {
  return { E2B_API_KEY: apiKeyOf(token), E2B_API_URL: baseUrl, E2B_SANDBOX_URL: baseUrl }
}

export const e2bCommands: CliCommand[] = [
  {
    words: ['e2b', 'env'],
    summary: 'Print export lines (E2B_API_KEY, E2B_API_URL, E2B_SANDBOX_URL) so the e2b SDKs drive this server: eval "$(tidepool e2b env)"',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    run: async (ctx) => {
      if (!ctx.connection) throw new Error('e2b env needs the server connection')
      const { baseUrl, token } = ctx.connection()
      // The token must work before it is handed to another tool: whoami fails loudly on a wrong one.
      await (await ctx.api()).whoami()
      const env = e2bEnv(baseUrl, token)
      ctx.io.print(env, () =>
        Object.entries(env)
          .map(([k, v]) => `export ${k}=${v}`)
          .join('\n'),
      )
      return 0
    },
  },
]
