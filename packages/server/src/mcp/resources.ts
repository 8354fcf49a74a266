/**
 * @module mcp/resources — read-only views an agent can attach: a run's triage as Markdown, a workflow run's
 * report as Markdown, and a sandbox's event log (state changes, commands and their exit codes). Each read is one API call, so the same scopes apply.
 */
import type { ReadResourceResult, ResourceTemplate } from '@modelcontextprotocol/sdk/types.js'
import { AppError } from '../core/errors.js'
import type { McpBackend } from './backend.js'

const triage = /^tidepool:\/\/runs\/([A-Za-z0-9._:-]{1,128})\/triage\.md$/
const events = /^tidepool:\/\/sandboxes\/(sbx_[a-z0-9]{6,40})\/events$/
const workflowReport = /^tidepool:\/\/workflows\/runs\/(wfr_[a-z0-9]{6,40})\/report\.md$/

export function resourceTemplates(): ResourceTemplate[] {
  return [
    {
      uriTemplate: 'tidepool://runs/{runId}/triage.md',
      name: 'run-triage',
      title: 'Run triage',
      description: 'Root cause per failing test of a CI or agent run, PR-ready Markdown',
      mimeType: 'text/markdown',
    },
    {
      uriTemplate: 'tidepool://sandboxes/{sandboxId}/events',
      name: 'sandbox-events',
      title: 'Sandbox events',
      description: 'The event log of a sandbox: state changes, commands run and their exit codes (JSON)',
      mimeType: 'application/json',
    },
    {
      uriTemplate: 'tidepool://workflows/runs/{runId}/report.md',
      name: 'workflow-report',
      title: 'Workflow run report',
      description: 'A workflow run as PR-ready Markdown: one row per step, the failures in detail',
      mimeType: 'text/markdown',
    },
  ]
}

export async function readResource(backend: McpBackend, uri: string): Promise<ReadResourceResult> {
  if (uri.length > 512) throw new AppError('invalid_request', 'uri: at most 512 characters')
  const t = triage.exec(uri)
  if (t) {
    const r = (await backend.call('getRunTriage', { id: t[1]! })) as { markdown: string }
    return { contents: [{ uri, mimeType: 'text/markdown', text: r.markdown }] }
  }
  const e = events.exec(uri)
  if (e) {
    const r = await backend.call('listSandboxEvents', { id: e[1]!, limit: 100 })
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(r) }] }
  }
  const w = workflowReport.exec(uri)
  if (w) {
    const r = (await backend.call('getWorkflowReport', { id: w[1]!, format: 'markdown' })) as { content: string }
    return { contents: [{ uri, mimeType: 'text/markdown', text: r.content }] }
  }
  throw new AppError('not_found', `no resource ${uri}; resources/templates/list names the kinds`)
}
