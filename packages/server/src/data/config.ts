/** @module data/config — configuration keys of the data area. */
import { z } from 'zod'

export const DataConfig = z.object({}).strict()
