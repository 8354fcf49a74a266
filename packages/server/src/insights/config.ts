/** @module insights/config — configuration keys of the feedback loop. */
import { z } from 'zod'

export const InsightsConfig = z.object({}).strict()
