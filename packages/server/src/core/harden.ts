/**
 * @module core/harden — freezes the shared prototypes once the server has loaded, so a prototype
 * pollution bug left anywhere (ours or a dependency's) throws or does nothing instead of changing
 * every object of the process.
 *
 * Called after every module is loaded and the control plane is built (not at the first line): a
 * module that assigns an inherited name at load time (`Foo.prototype.toString = …`, the "override
 * mistake") would otherwise throw. Tested with our dependencies (hono, pino, kysely, zod,
 * better-sqlite3, yaml) in core/harden.test.ts.
 */

/** The prototypes frozen: where a `?__proto__.x=` write or an `obj[key][key2] = v` would land. */
export const frozenPrototypes: readonly [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
  ['Number.prototype', Number.prototype],
  ['Boolean.prototype', Boolean.prototype],
  ['RegExp.prototype', RegExp.prototype],
  ['Promise.prototype', Promise.prototype],
]

/** Freezes the prototypes above (idempotent). Returns their names, for the start-up log. */
export function freezePrototypes(): string[] {
  for (const [, proto] of frozenPrototypes) Object.freeze(proto)
  return frozenPrototypes.map(([name]) => name)
}
