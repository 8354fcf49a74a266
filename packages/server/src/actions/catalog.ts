/** @module actions/catalog — every built-in action, by name; what GET /v1/actions lists and workflow steps `uses:`. */
import type { Action } from './action.js'
import { assertEquals, assertMatch, assertSchema } from './assert-actions.js'
import { dbQuery } from './db-query.js'
import { execAction } from './exec-action.js'
import { filesDiff, filesMark } from './files-diff.js'
import { httpRequest } from './http-request.js'
import { logsCapture, logsMark } from './logs-capture.js'
import { waitFor } from './wait-for.js'

/** The built-in actions, in name order. A Map: a name from input never reaches an object's prototype. */
export const builtinActions: ReadonlyMap<string, Action> = new Map(
  ([execAction, assertEquals, assertMatch, assertSchema, waitFor, httpRequest, dbQuery, filesMark, filesDiff, logsMark, logsCapture] as unknown as Action[])
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((a) => [a.name, a]),
)
