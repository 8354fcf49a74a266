/**
 * @module audit/decision-graph — an agent run read back from the audit as a graph: each prompt, the model
 * output it produced (the call, with model and parameters), the action that call ran, and its result;
 * `parentId` links a call to the one it followed from. Pure: records in, graph out, so it is the same for
 * SQLite and PostgreSQL stores and testable without either.
 */
import type { AuditGraph, AuditRecord } from '@tidepool/sdk'
import { hashText } from './audit-row.js'

type Node = AuditGraph['nodes'][number]
type Edge = AuditGraph['edges'][number]

/** Most records one graph holds (a run longer than this is shown from its start, marked truncated). */
export const maxGraphRecords = 2000
const maxLabelChars = 80
const resultSuffix = ':result'

/** The decision graph of one run from its records in seq order (at most maxGraphRecords + 1 of them). */
export function decisionGraph(run: string, records: readonly AuditRecord[]): AuditGraph {
  const truncated = records.length > maxGraphRecords
  const kept = records.slice(0, maxGraphRecords)
  const nodes: Node[] = []
  const edges: Edge[] = []
  const prompts = new Map<string, string>() // prompt hash → node id
  const resultOfRequest = new Map<string, Node>() // requestId → its result node

  for (const r of kept) {
    const call = r.call ?? {}
    if (r.action.endsWith(resultSuffix)) {
      // A stream's end: its result completes the result node of the call that started it.
      const node = r.requestId !== undefined ? resultOfRequest.get(r.requestId) : undefined
      if (node) {
        node.label = label(`${r.outcome}${previewLabel(r.result?.preview)}`)
        node.data = { outcome: r.outcome, streamed: true, ...(r.result ? { digest: r.result.digest, preview: r.result.preview } : {}) }
        continue
      }
    }
    const at = `s${r.seq}`
    let previous: string | undefined
    const link = (to: string, kind: Edge['kind']) => {
      if (previous !== undefined) edges.push({ from: previous, to, kind })
      previous = to
    }
    if (call.prompt !== undefined) {
      const key = hashText(call.prompt)
      let id = prompts.get(key)
      if (id === undefined) {
        id = `p${prompts.size + 1}`
        prompts.set(key, id)
        nodes.push({ id, kind: 'prompt', label: label(call.prompt), seq: r.seq, data: { prompt: call.prompt } })
      }
      previous = id
    }
    if (call.model !== undefined) {
      const id = `m_${at}`
      const model = call.modelVersion !== undefined ? `${call.model}@${call.modelVersion}` : call.model
      nodes.push({ id, kind: 'model', label: label(model), seq: r.seq, ...req(r), data: { model: call.model, modelVersion: call.modelVersion, parameters: call.parameters } })
      link(id, 'asked')
    }
    const action = `a_${at}`
    nodes.push({
      id: action,
      kind: 'action',
      label: label(r.target !== undefined ? `${r.action} ${r.target}` : r.action),
      seq: r.seq,
      ...req(r),
      data: { action: r.action, target: r.target, input: r.data },
    })
    link(action, 'called')
    const result: Node = {
      id: `r_${at}`,
      kind: 'result',
      label: label(`${r.outcome}${previewLabel(r.result?.preview)}`),
      seq: r.seq,
      ...req(r),
      data: { outcome: r.outcome, ...(r.result ? { digest: r.result.digest, preview: r.result.preview } : {}) },
    }
    nodes.push(result)
    link(result.id, 'returned')
    if (r.requestId !== undefined) resultOfRequest.set(r.requestId, result)
    if (call.parentId !== undefined) {
      const parent = resultOfRequest.get(call.parentId)
      // The parent's result led to this call: to its model output (or its action), not to a shared prompt node.
      if (parent) edges.push({ from: parent.id, to: call.model !== undefined ? `m_${at}` : action, kind: 'led_to' })
    }
  }
  const graph = { run, records: kept.length, truncated, nodes, edges }
  return { ...graph, mermaid: toMermaid(graph) }
}

function req(r: AuditRecord): { requestId?: string } {
  return r.requestId !== undefined ? { requestId: r.requestId } : {}
}

/** A short label for a result's preview: an exec's exit code, else nothing. */
function previewLabel(preview: unknown): string {
  if (preview && typeof preview === 'object' && 'exitCode' in preview) return ` exit ${String((preview as { exitCode: unknown }).exitCode)}`
  return ''
}

/** One line, at most maxLabelChars characters. */
function label(s: string): string {
  let out = ''
  for (const ch of s) {
    if (out.length >= maxLabelChars) return `${out}…`
    const c = ch.charCodeAt(0)
    out += c < 32 || c === 127 ? ' ' : ch
  }
  return out
}

/**
 * Mermaid flowchart text. Labels go in double quotes with every character that could end the quote or
 * start markup written as a Mermaid entity (#quot; #35; …), so no label can inject graph syntax.
 */
export function toMermaid(g: { nodes: readonly Node[]; edges: readonly Edge[] }): string {
  const shape: Record<Node['kind'], [string, string]> = { prompt: ['[/', '/]'], model: ['(', ')'], action: ['[', ']'], result: ['([', '])'] }
  const lines = ['flowchart TD']
  for (const n of g.nodes) {
    const [open, close] = shape[n.kind]
    lines.push(`  ${n.id}${open}"${mermaidText(`${n.kind}: ${n.label}`)}"${close}`)
  }
  for (const e of g.edges) lines.push(`  ${e.from} -->|${e.kind}| ${e.to}`)
  return `${lines.join('\n')}\n`
}

const mermaidEntities: Record<string, string> = {
  '"': '#quot;',
  '#': '#35;',
  '<': '#lt;',
  '>': '#gt;',
  '&': '#amp;',
  '`': '#96;',
  '|': '#124;',
  '[': '#91;',
  ']': '#93;',
  '{': '#123;',
  '}': '#125;',
  '(': '#40;',
  ')': '#41;',
}

function mermaidText(s: string): string {
  let out = ''
  for (const ch of s) out += mermaidEntities[ch] ?? ch
  return out
}
