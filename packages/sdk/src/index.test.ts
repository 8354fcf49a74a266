/**
 * The SDK's public surface, in one place: every name `index.ts` exports is listed in `public-api.txt`
 * (committed), so an accidental export — or a removed one — fails here and shows up in review.
 * After an intended change: UPDATE_SNAPSHOTS=1 npx vitest run packages/sdk/src/index.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import * as sdk from './index.js'

const indexFile = fileURLToPath(new URL('./index.ts', import.meta.url))
const listFile = fileURLToPath(new URL('./public-api.txt', import.meta.url))
const update = 'UPDATE_SNAPSHOTS=1 npx vitest run packages/sdk/src/index.test.ts'

/** `value Name` / `type Name` for every export of index.ts, sorted; throws on `export *` (the list could not see through it). */
function declaredSurface(): string[] {
  const source = ts.createSourceFile(indexFile, readFileSync(indexFile, 'utf8'), ts.ScriptTarget.Latest, true)
  const out: string[] = []
  for (const st of source.statements) {
    if (ts.isExportDeclaration(st)) {
      if (!st.exportClause || !ts.isNamedExports(st.exportClause)) throw new Error(`index.ts: \`${st.getText()}\` — use named exports (export * hides what becomes public)`)
      for (const e of st.exportClause.elements) out.push(`${st.isTypeOnly || e.isTypeOnly ? 'type' : 'value'} ${e.name.text}`)
    } else if (ts.getCombinedModifierFlags(st as ts.Declaration) & ts.ModifierFlags.Export) {
      throw new Error(`index.ts declares an export inline (${st.getText().slice(0, 60)}…); re-export it from its module`)
    }
  }
  return out.sort()
}

describe('@tidepool/sdk public surface', () => {
  it('is exactly the committed public-api.txt', () => {
    const declared = `${declaredSurface().join('\n')}\n`
    if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(listFile, declared)
    const committed = readFileSync(listFile, 'utf8')
    const want = new Set(committed.trim().split('\n'))
    const got = new Set(declared.trim().split('\n'))
    const added = [...got].filter((n) => !want.has(n))
    const removed = [...want].filter((n) => !got.has(n))
    expect({ added, removed }, `index.ts exports differ from public-api.txt; every export is public API. If intended, run: ${update}`).toEqual({ added: [], removed: [] })
  })

  it('lists as values exactly what the module exports at run time', () => {
    const values = readFileSync(listFile, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('value '))
      .map((l) => l.slice('value '.length))
    expect(Object.keys(sdk).sort()).toEqual(values.sort())
  })
})
