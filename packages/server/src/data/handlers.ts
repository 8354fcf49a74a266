/** @module data/handlers — handlers of the data operations. */
import type { Handler } from '../service/context.js'

export const dataHandlers = {} satisfies Record<string, Handler<any, unknown>>
