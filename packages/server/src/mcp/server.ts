/**
 * @module mcp/server — the MCP server: tools and resources over an McpBackend. Transport-free: the stdio
 * command and the Streamable HTTP mount each connect one of these per session.
 *
 * The low-level `Server` is used (not `McpServer`) so that arguments reach dispatch unvalidated: the
 * API's own validation answers, with the API's codes and messages, exactly as over HTTP.
 */
import { callMetaOfObject } from '../kit/call-meta.js'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js'
import { isApiError, type ActionInfo } from '@tidepool/sdk'
import { AppError, codeOf } from '../core/errors.js'
import { safeCopy } from '../core/safe-input.js'
import type { Logger } from '../core/log.js'
import type { McpBackend } from './backend.js'
import { readResource, resourceTemplates } from './resources.js'
import { actionTools, operationTools, type ToolDef } from './tools.js'

export const serverInfo = { name: 'tidepool', version: '0.1.0' }

export interface McpServerOptions {
  log: Logger
}

export function createMcpServer(backend: McpBackend, opts: McpServerOptions): Server {
  const server = new Server(serverInfo, {
    capabilities: { tools: { listChanged: false }, resources: { listChanged: false } },
    instructions: 'tidepool: ephemeral Linux sandboxes. create_sandbox, then exec / write_file / read_file in it, and action_* tools to check results deterministically; delete_sandbox when done.',
  })
  let tools: Promise<Map<string, ToolDef>> | undefined
  // Built on first use: the action tools come from GET /v1/actions (the server's own list).
  const toolMap = () =>
    (tools ??= (async () => {
      let actions: ActionInfo[] = []
      try {
        actions = ((await backend.call('listActions', {})) as { items: ActionInfo[] }).items
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'mcp: the action list could not be read; no action tools')
      }
      return new Map([...operationTools(), ...actionTools(actions)].map((t) => [t.name, t]))
    })())

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [...(await toolMap()).values()].map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, annotations: t.annotations })),
  }))

  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const tool = (await toolMap()).get(req.params.name)
    let requestId: string | undefined
    try {
      if (!tool) throw new AppError('not_found', `no tool ${req.params.name}; tools/list names them`)
      const args = safeCopy(req.params.arguments ?? {}, '') as Record<string, unknown>
      const token = req.params._meta?.progressToken
      let progress = 0
      const onOutput =
        token !== undefined && tool.op === 'exec'
          ? async (c: { stream: string; data: string }) => {
              progress += c.data.length
              await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message: c.stream === 'stderr' ? `[stderr] ${c.data}` : c.data } })
            }
          : undefined
      const meta = callMetaOfObject(req.params._meta)
      const onRequestId = (id: string) => void (requestId = id)
      const result = tool.fromOutput(await backend.call(tool.op, tool.toInput(args), { onOutput, signal: extra.signal, meta, onRequestId }), args)
      return withRequestId(success(result), requestId)
    } catch (err) {
      return withRequestId(failure(err, opts.log), requestId)
    }
  })

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: [] }))
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: resourceTemplates() }))
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => readResource(backend, req.params.uri))
  return server
}

/** The audit record's requestId in the result's `_meta`: the next call's CallMeta.parentId. */
const withRequestId = (r: CallToolResult, requestId: string | undefined): CallToolResult => (requestId ? { ...r, _meta: { requestId } } : r)

function success(result: unknown): CallToolResult {
  if (result === undefined) return { content: [{ type: 'text', text: 'done' }], structuredContent: { ok: true } }
  const structured = result !== null && typeof result === 'object' && !Array.isArray(result) ? (result as Record<string, unknown>) : { value: result }
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: structured }
}

/** A failed call is a tool result the agent can read and act on, never a protocol error. */
function failure(err: unknown, log: Logger): CallToolResult {
  // The remote backend's errors are the SDK's ApiError, carrying the server's code (or network_error).
  const code: string = isApiError(err) ? err.code : codeOf(err)
  if (code === 'internal') log.error({ err }, 'mcp: internal error')
  const message = code === 'internal' ? 'internal error; the server log has the details' : (err as Error).message
  const details = (err as { details?: unknown }).details
  return {
    isError: true,
    content: [{ type: 'text', text: `${code}: ${message}` }],
    structuredContent: { error: { code, message, ...(details !== undefined ? { details } : {}) } },
  }
}
