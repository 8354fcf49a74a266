/** @module insights/handlers — handlers of the insights operations. */
import type { Handler } from '../service/context.js'

export const insightsHandlers = {} satisfies Record<string, Handler<any, unknown>>
