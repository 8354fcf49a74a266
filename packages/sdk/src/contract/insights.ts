/** @module contract/insights — runs, test results and the feedback loop's analyses. */
import type { Operation } from './operation.js'

export const insightsOps = {} as const satisfies Record<string, Operation>
