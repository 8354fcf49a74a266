import { describe, expect, it } from 'vitest'
import { decodeEntities, scanXml, type XmlHandler } from './xml.js'

function collect(src: string) {
  const ev: string[] = []
  const h: XmlHandler = {
    wantText: true,
    open: (n, a, self) =>
      ev.push(
        `<${n}${Object.entries(a)
          .map(([k, v]) => ` ${k}=${v}`)
          .join('')}${self ? '/' : ''}>`,
      ),
    close: (n) => ev.push(`</${n}>`),
    text: (t) => {
      if (t.trim()) ev.push(t)
    },
  }
  return { ev, res: scanXml(src, h) }
}

describe('scanXml', () => {
  it('reads tags, attributes (either quote, ">" inside), text, CDATA; skips comments, PIs and DOCTYPE', () => {
    const { ev, res } = collect(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a k='v>w' j="1"><!-- <b> --><b/>t&amp;u<![CDATA[<raw> & ]]></a>`)
    expect(res.truncated).toBe(false)
    expect(ev).toEqual(['<a k=v>w j=1>', '<b/>', '</b>', 't&u', '<raw> & ', '</a>'])
  })
  it.each([
    ['<a><b>', 'still open'],
    ['<a k="v', 'start tag'],
    ['<a><!-- x', 'comment'],
    ['<a><![CDATA[x', 'CDATA'],
    ['<a></a', 'end tag'],
  ])('reports truncation of %j (%s)', (src) => {
    expect(collect(src).res.truncated).toBe(true)
  })
  it('decodes numeric and named entities, leaves unknown ones', () => {
    expect(decodeEntities('&lt;&#65;&#x42;&quot;&apos;&amp;&bogus;&#xD800;')).toBe(`<AB"'&&bogus;`)
  })
})

describe('scanXml: prototype names', () => {
  it('hands attributes as a null-prototype object without __proto__/constructor/prototype', () => {
    const seen: Record<string, string>[] = []
    scanXml('<a __proto__="p" constructor="c" prototype=\'q\' toString="t" name="n"/><b constructor/>', {
      wantText: false,
      open: (_n, a) => void seen.push(a),
      close: () => undefined,
      text: () => undefined,
    })
    expect(seen.map((a) => Object.getPrototypeOf(a))).toEqual([null, null])
    expect(Object.keys(seen[0]!)).toEqual(['toString', 'name'])
    expect(Object.keys(seen[1]!)).toEqual([])
    expect(({} as Record<string, unknown>).p).toBeUndefined()
  })
})
