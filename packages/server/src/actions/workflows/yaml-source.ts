/**
 * @module actions/workflows/yaml-source — a workflow file read with the `yaml` package, keeping where
 * each node sits so every later error (schema, action, reference) can name its line and column.
 *
 * The document becomes plain data by our own walk, not `toJS()`: maps become null-prototype records,
 * keys that could reach a prototype are refused, aliases are refused (no billion laughs), and depth and
 * node count are bounded.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Scalar } from 'yaml'

const maxDepth = 32
const maxNodes = 20_000
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype'])

/** One problem in the file, at a 1-based line and column. */
export interface SourceIssue {
  path: string
  message: string
  line: number
  column: number
}

/** Raised with every issue found (details: SourceIssue[]). */
export class WorkflowSourceError extends Error {
  constructor(readonly issues: SourceIssue[]) {
    super(issues.map((i) => `${i.line}:${i.column} ${i.path ? `${i.path}: ` : ''}${i.message}`).join('; '))
    this.name = 'WorkflowSourceError'
  }
}

export type PathSeg = string | number

/** The parsed file: its data, and where any path of it (or a character inside a string of it) is. */
export interface WorkflowSource {
  value: unknown
  /** Line and column of the node at `path` (or its nearest ancestor); `offset` moves into a one-line string. */
  at(path: readonly PathSeg[], offset?: number): { line: number; column: number }
  issue(path: readonly PathSeg[], message: string, offset?: number): SourceIssue
  /** The string at `path` was written in quotes ('…' or "…"). */
  quoted(path: readonly PathSeg[]): boolean
}

export function pathText(path: readonly PathSeg[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p
  return out
}

export function readWorkflowYaml(text: string): WorkflowSource {
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true })
  const pos = (offset: number) => {
    const p = lc.linePos(offset)
    return { line: p.line, column: p.col }
  }
  if (doc.errors.length > 0) throw new WorkflowSourceError(doc.errors.slice(0, 20).map((e) => ({ path: '', message: e.message.split('\n')[0]!, ...pos(e.pos[0]) })))

  const issues: SourceIssue[] = []
  let nodes = 0
  const toPlain = (node: unknown, path: PathSeg[], depth: number): unknown => {
    if (++nodes > maxNodes) throw new WorkflowSourceError([{ path: pathText(path), message: `a workflow file has at most ${maxNodes} nodes`, ...pos(rangeOf(node)) }])
    if (depth > maxDepth) throw new WorkflowSourceError([{ path: pathText(path), message: `a workflow file nests at most ${maxDepth} levels`, ...pos(rangeOf(node)) }])
    if (node === null || node === undefined) return null
    if (isAlias(node)) {
      issues.push({ path: pathText(path), message: 'aliases (*name) are not supported in workflow files; write the value out', ...pos(rangeOf(node)) })
      return null
    }
    if (isScalar(node)) return node.value
    if (isSeq(node)) return node.items.map((item, i) => toPlain(item, [...path, i], depth + 1))
    if (isMap(node)) {
      const out = Object.create(null) as Record<string, unknown>
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : undefined
        if (typeof key !== 'string' && typeof key !== 'number') {
          issues.push({ path: pathText(path), message: 'keys are plain strings', ...pos(rangeOf(pair.key)) })
          continue
        }
        const k = String(key)
        if (forbiddenKeys.has(k)) {
          issues.push({ path: pathText([...path, k]), message: `${k} is not allowed as a key`, ...pos(rangeOf(pair.key)) })
          continue
        }
        out[k] = toPlain(pair.value, [...path, k], depth + 1)
      }
      return out
    }
    issues.push({ path: pathText(path), message: 'unsupported YAML node', ...pos(rangeOf(node)) })
    return null
  }
  const value = toPlain(doc.contents, [], 0)
  if (issues.length > 0) throw new WorkflowSourceError(issues)

  const at = (path: readonly PathSeg[], offset?: number) => {
    const node = nodeAt(doc, path)
    let start = rangeOf(node)
    if (offset !== undefined && isScalar(node) && typeof node.value === 'string' && !node.value.includes('\n')) {
      const quoted = (node as Scalar).type === 'QUOTE_DOUBLE' || (node as Scalar).type === 'QUOTE_SINGLE'
      // Exact for plain and quoted one-line strings without escapes; otherwise near enough (same line).
      start += offset + (quoted ? 1 : 0)
    }
    return pos(start)
  }
  const quoted = (path: readonly PathSeg[]) => {
    const node = nodeAt(doc, path)
    return isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')
  }
  return { value, at, quoted, issue: (path, message, offset) => ({ path: pathText(path), message, ...at(path, offset) }) }
}

function rangeOf(node: unknown): number {
  const r = (node as { range?: [number, number, number] } | null)?.range
  return r ? r[0] : 0
}

/** The node at `path`, or the closest one on the way (a missing key points at its map). */
function nodeAt(doc: Document, path: readonly PathSeg[]): Node | null {
  let node = doc.contents as Node | null
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))
      if (!pair) return node
      if (pair.value === null || pair.value === undefined) return pair.key as Node
      node = pair.value as Node
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) node = node.items[seg] as Node
    else return node
  }
  return node
}
