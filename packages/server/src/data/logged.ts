/** @module data/logged — a clean-up step that must not hide the error being handled: its own failure is logged once, with what failed. */
import type { Logger } from '../core/log.js'

/** A `.catch` handler: logs `<what> failed` (with `fields`) as a warning and resolves to undefined. */
export function loggedAs(log: Pick<Logger, 'warn'>, what: string, fields: Record<string, unknown> = {}): (err: unknown) => undefined {
  return (err) => {
    log.warn({ err, ...fields }, `${what} failed`)
    return undefined
  }
}
