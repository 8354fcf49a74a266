/**
 * The OpenAPI document is a committed snapshot, so a contract change shows up as a diff in review.
 * After an intended change, regenerate it with one command:
 *   UPDATE_SNAPSHOTS=1 npx vitest run packages/server/src/http/openapi.snapshot.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane } from '../testing/control-plane.js'
import { openApiDocument } from './openapi.js'

const snapshotFile = fileURLToPath(new URL('./openapi.snapshot.json', import.meta.url))
const update = 'UPDATE_SNAPSHOTS=1 npx vitest run packages/server/src/http/openapi.snapshot.test.ts'
const render = (doc: unknown) => `${JSON.stringify(doc, null, 2)}\n`

describe('OpenAPI snapshot', () => {
  it('/openapi.json equals the committed openapi.snapshot.json', async () => {
    const tp = await testPlane(new FakeRuntime())
    let served: string
    try {
      const r = await tp.call('GET', '/openapi.json', { token: null })
      expect(r.status).toBe(200)
      served = render(await r.json())
    } finally {
      await tp.dispose()
    }
    if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(snapshotFile, served)
    expect(existsSync(snapshotFile), `${snapshotFile} is missing; create it with: ${update}`).toBe(true)
    const committed = readFileSync(snapshotFile, 'utf8')
    // One line, not a 10k-line diff dump, says what to do; the diff itself is for `git diff` after updating.
    if (served !== committed) {
      const a = committed.split('\n')
      const b = served.split('\n')
      const at = a.findIndex((line, i) => line !== b[i])
      expect.fail(
        `the OpenAPI document differs from ${snapshotFile} (first at line ${at + 1}: ${JSON.stringify(a[at])} → ${JSON.stringify(b[at])}). If the contract change is intended, run: ${update} and commit the file`,
      )
    }
  })

  it('is what openApiDocument() builds (the route serves the generator, nothing hand-edited)', () => {
    expect(render(openApiDocument())).toBe(readFileSync(snapshotFile, 'utf8'))
  })
})
