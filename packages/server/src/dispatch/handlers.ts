/** @module dispatch/handlers — one handler per operation; each area contributes its table. */
import type { OpName } from '@tidepool/sdk'
import type { Handler } from '../kit/context.js'
import { accessHandlers } from '../access/handlers.js'
import { sandboxHandlers } from '../sandboxes/handlers.js'
import { insightsHandlers } from '../insights/handlers.js'
import { dataHandlers } from '../data/handlers.js'

// biome-ignore lint: input/output types are checked per area table against the operation table.
export const handlers: Record<OpName, Handler<any, unknown>> = {
  ...sandboxHandlers,
  ...accessHandlers,
  ...insightsHandlers,
  ...dataHandlers,
}
