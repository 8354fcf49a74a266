import type { FileEntry } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { EventType } from '../gen/filesystem_pb.js'
import { diff } from './watch.js'

const entry = (path: string, size = 1, modifiedAt = '2026-01-01T00:00:00.000Z', type: FileEntry['type'] = 'file'): FileEntry => ({
  name: path.split('/').pop()!,
  path,
  type,
  size,
  mode: '0644',
  modifiedAt,
})
const tree = (...es: FileEntry[]) => new Map(es.map((e) => [e.path, e]))

describe('watch diff', () => {
  it('reports creates, writes and removes with names relative to the watched directory', () => {
    const before = tree(entry('/w/a'), entry('/w/b'), entry('/w/d', 4096, undefined, 'dir'))
    const after = tree(entry('/w/a', 2), entry('/w/c'), entry('/w/d', 4096, '2026-02-01T00:00:00.000Z', 'dir'), entry('/w/d/e'))
    const events = diff('/w', before, after, false).map((e) => [e.name, e.type, e.entry === undefined])
    expect(events).toEqual([
      ['a', EventType.WRITE, true],
      ['c', EventType.CREATE, true],
      ['d/e', EventType.CREATE, true],
      ['b', EventType.REMOVE, true],
    ])
  })

  it('carries the entry when asked, never for a remove', () => {
    const events = diff('/w', tree(entry('/w/x')), tree(entry('/w/y')), true)
    expect(events.map((e) => [e.name, e.entry?.name])).toEqual([
      ['y', 'y'],
      ['x', undefined],
    ])
  })
})
