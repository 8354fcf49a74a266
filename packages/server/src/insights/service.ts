/** @module insights/service — the feedback loop's service (ingest, analysis, remediation, triage, KPIs). */
import type { AreaDeps } from '../service/area-deps.js'

// biome-ignore lint: filled in by the insights area
export interface InsightsService {}

export function createInsightsService(_deps: AreaDeps): InsightsService {
  return {}
}
