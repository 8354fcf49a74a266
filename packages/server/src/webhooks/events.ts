/** @module webhooks/events — the payloads of the events webhooks carry (`data` of a delivery body). */
import type { Remediation, Run, Triage } from '@tidepool/sdk'

/** `triage.summary`: a run was finished and triaged. */
export interface TriageSummaryData {
  run: Run
  verdict: Triage['verdict']
  /** The PR-ready summary (the same Markdown as GET /v1/insights/runs/{id}/triage). */
  markdown: string
  failures: number
  remediations: Remediation[]
}

/** `remediation.proposed` / `.approved` / `.rejected`: the remediation as GET /v1/insights/remediations shows it. */
export interface RemediationData {
  remediation: Remediation
}
