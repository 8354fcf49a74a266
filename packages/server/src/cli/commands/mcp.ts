/**
 * @module cli/commands/mcp — `tidepool mcp`: an MCP server over stdio for agents (Claude Code, Cursor, …).
 *
 * It is a client of the HTTP API (TIDEPOOL_URL, TIDEPOOL_TOKEN) through @tidepool/sdk, not an embedded
 * control plane: it works against any tidepool server, local or remote, many agents can share one server,
 * and every call goes through the server's dispatch (scopes, validation, audit) exactly like the CLI's.
 * stdout is the protocol; logs go to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createLogger } from '../../core/log.js'
import { clientBackend } from '../../mcp/backend.js'
import { createMcpServer } from '../../mcp/server.js'
import type { CliCommand } from '../command.js'

export const mcpCommand: CliCommand = {
  words: ['mcp'],
  summary: 'Serve MCP over stdio for an agent (tools: sandboxes, exec, files, actions; uses TIDEPOOL_URL and TIDEPOOL_TOKEN)',
  usage: '',
  options: {},
  run: async (ctx) => {
    const client = await ctx.api()
    // Logs must never reach stdout (the protocol): pino to fd 2.
    const log = createLogger('warn')
    const server = createMcpServer(clientBackend(client), { log })
    const transport = new StdioServerTransport()
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => resolve()
      process.stdin.once('end', () => resolve())
    })
    await server.connect(transport)
    await closed
    await server.close()
    return 0
  },
}
