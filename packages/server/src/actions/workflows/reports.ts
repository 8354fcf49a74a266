/**
 * @module actions/workflows/reports — a workflow run as JSON (deterministic: sorted keys, no ids or
 * clock values, timings only when asked), JUnit XML (one testcase per step, what
 * `POST /v1/runs/{id}/junit` ingests) and Markdown (a PR comment).
 */
import type { WorkflowRun, WorkflowStepResult } from '@tidepool/sdk'
import { sortedKeys } from '../stable.js'

/** Largest output shown per step in the Markdown and JUnit reports (the JSON report has it whole). */
const maxShownChars = 4000

/**
 * The deterministic report: what the run did, not when or as which id. The same workflow with the same
 * inputs against the same state gives the same bytes. `timings: true` adds a `timings` field.
 */
export function jsonReport(run: WorkflowRun, opts: { timings: boolean }): string {
  const body: Record<string, unknown> = {
    workflow: run.workflow,
    status: run.status,
    inputs: run.inputs,
    steps: run.steps,
    summary: summary(run.steps),
  }
  if (opts.timings && run.timings) body.timings = run.timings
  return `${JSON.stringify(sortedKeys(body), null, 2)}\n`
}

function summary(steps: WorkflowStepResult[]) {
  const count = (s: WorkflowStepResult['status']) => steps.filter((x) => x.status === s).length
  return { steps: steps.length, passed: count('passed'), failed: count('failed'), skipped: count('skipped') }
}

const xmlText = (s: string) => stripInvalidXml(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
const xmlAttr = (s: string) => xmlText(s).replaceAll('"', '&quot;').replaceAll('\n', '&#10;')

/** Characters XML 1.0 cannot carry (control characters other than tab, LF and CR; lone surrogates). */
function stripInvalidXml(s: string): string {
  let out = ''
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    const ok = c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000
    out += ok ? ch : '\uFFFD'
  }
  return out
}

const clip = (s: string) => (s.length > maxShownChars ? `${s.slice(0, maxShownChars)}… (${s.length - maxShownChars} more characters; the JSON report has all)` : s)
const shown = (v: unknown) => clip(typeof v === 'string' ? v : (JSON.stringify(v, null, 2) ?? ''))
const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(3)

/** One testsuite named after the workflow, one testcase per step (classname: the workflow; name: the step id). */
export function junitReport(run: WorkflowRun): string {
  const s = summary(run.steps)
  const errors = run.steps.filter((x) => x.status === 'failed' && x.error && x.output === undefined).length
  const failures = s.failed - errors
  const suite = xmlAttr(run.workflow)
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tidepool workflow" tests="${s.steps}" failures="${failures}" errors="${errors}" skipped="${s.skipped}" time="${seconds(run.timings?.durationMs)}">`,
    `  <testsuite name="${suite}" tests="${s.steps}" failures="${failures}" errors="${errors}" skipped="${s.skipped}" time="${seconds(run.timings?.durationMs)}"${run.finishedAt ? ` timestamp="${xmlAttr(run.createdAt)}"` : ''}>`,
    `    <properties><property name="tidepool.workflowRun" value="${xmlAttr(run.id)}"/>${run.sandboxId ? `<property name="tidepool.sandbox" value="${xmlAttr(run.sandboxId)}"/>` : ''}</properties>`,
  ]
  for (const step of run.steps) {
    const open = `    <testcase classname="${suite}" name="${xmlAttr(step.id)}" time="${seconds(run.timings?.steps[step.id])}"`
    if (step.status === 'passed') lines.push(`${open}/>`)
    else if (step.status === 'skipped') lines.push(`${open}>`, '      <skipped message="if: condition was false"/>', '    </testcase>')
    else {
      const tag = step.error && step.output === undefined ? 'error' : 'failure'
      const message = step.error ? `${step.error.code}: ${step.error.message}` : `${step.uses} did not pass`
      const detail = step.output !== undefined ? shown(step.output) : message
      lines.push(`${open}>`, `      <${tag} message="${xmlAttr(clip(message))}" type="${xmlAttr(step.uses)}">${xmlText(detail)}</${tag}>`, '    </testcase>')
    }
  }
  lines.push('  </testsuite>', '</testsuites>', '')
  return lines.join('\n')
}

const icon = { passed: '✅', failed: '❌', skipped: '⏭️' } as const
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ')

/** A PR comment: verdict, one table row per step, then each failure with its output. */
export function markdownReport(run: WorkflowRun): string {
  const s = summary(run.steps)
  const out = [
    `## ${run.status === 'passed' ? '✅' : '❌'} Workflow \`${cell(run.workflow)}\` ${run.status}`,
    '',
    `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped of ${s.steps} steps${run.sandboxId ? ` in sandbox \`${run.sandboxId}\`` : ''} (run \`${run.id}\`).`,
    '',
    '| | step | action | result | time |',
    '|---|---|---|---|---|',
  ]
  for (const step of run.steps) {
    const t = run.timings?.steps[step.id]
    const result = step.status === 'failed' ? (step.error ? `\`${step.error.code}\`` : 'not ok') + (step.onFailure === 'continue' ? ' (continued)' : '') : step.status
    out.push(`| ${icon[step.status]} | ${cell(step.name ?? step.id)} | \`${step.uses}\` | ${cell(result)} | ${t === undefined ? '' : `${Math.round(t)} ms`} |`)
  }
  const failed = run.steps.filter((x) => x.status === 'failed')
  for (const step of failed) {
    out.push('', `<details><summary>❌ <code>${step.id}</code> (${step.uses})</summary>`, '')
    if (step.error) out.push(`**${step.error.code}**: ${step.error.message}`, '')
    if (step.output !== undefined) out.push('```json', shown(step.output).replaceAll('```', '`\u200b``'), '```', '')
    if (step.snapshotId) out.push(`Snapshot of the sandbox at the failure: \`${step.snapshotId}\` (start a sandbox from it with \`fromSnapshot\`).`, '')
    out.push('</details>')
  }
  out.push('')
  return out.join('\n')
}
