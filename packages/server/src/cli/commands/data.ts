/** @module cli/commands/data — `tidepool data …`. */
import type { CliCommand } from '../command.js'

export const dataCommands: CliCommand[] = []
