/** @module cli/commands/insights — `tidepool ingest|triage|insights …`. */
import type { CliCommand } from '../command.js'

export const insightsCommands: CliCommand[] = []
