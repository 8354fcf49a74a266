import { describe, expect, it } from 'vitest'
import { parsePortHost, portTargetOf, splitPortCookie } from './port-target.js'

const ID = 'sbx_k3j9x2m1q8w7'

describe('port targets', () => {
  it('reads the host-name form (any case, any API port, a trailing dot) and nothing that only resembles it', () => {
    expect(parsePortHost(`3000-${ID}.sandbox.localhost:7070`)).toEqual({ id: ID, port: '3000' })
    expect(parsePortHost(`3000-${ID.toUpperCase()}.SANDBOX.localhost.`)).toEqual({ id: ID, port: '3000' })
    for (const bad of [
      `0-${ID}.sandbox.localhost`,
      `65536-${ID}.sandbox.localhost`,
      `030-${ID}.sandbox.localhost`,
      `3000-sbx_x.sandbox.localhost`,
      `3000-${ID}.sandbox.localhost.evil.com`,
      '127.0.0.1:7070',
      undefined,
    ])
      expect(parsePortHost(bad)).toBeUndefined()
  })

  it('the host-name form forwards every path; the path form what is below its prefix, and leaves PUT …/public to its operation', () => {
    expect(portTargetOf('GET', `80-${ID}.sandbox.localhost`, '/v1/sandboxes/x?a=1')).toMatchObject({ form: 'host', forwardPath: '/v1/sandboxes/x?a=1', cookiePath: '/' })
    expect(portTargetOf('POST', '127.0.0.1:7070', `/v1/sandboxes/${ID}/ports/80/api/x?b=2`)).toMatchObject({
      id: ID,
      port: '80',
      form: 'path',
      forwardPath: '/api/x?b=2',
      cookiePath: `/v1/sandboxes/${ID}/ports/80`,
    })
    expect(portTargetOf('GET', undefined, `/v1/sandboxes/${ID}/ports/80`)).toMatchObject({ forwardPath: '/' })
    expect(portTargetOf('GET', undefined, `/v1/sandboxes/${ID}/ports/80/public`)).toMatchObject({ forwardPath: '/public' })
    expect(portTargetOf('PUT', undefined, `/v1/sandboxes/${ID}/ports/80/public`)).toBeUndefined()
    expect(portTargetOf('GET', undefined, `/v1/sandboxes/${ID}/files`)).toBeUndefined()
    expect(portTargetOf('GET', undefined, '/healthz')).toBeUndefined()
  })

  it('takes access_token out of the forwarded query and notes it', () => {
    expect(portTargetOf('GET', `80-${ID}.sandbox.localhost`, '/p?x=1&access_token=tok&y=2')).toMatchObject({ forwardPath: '/p?x=1&y=2', accessToken: 'tok' })
    expect(portTargetOf('GET', `80-${ID}.sandbox.localhost`, '/p?access_token=tok')).toMatchObject({ forwardPath: '/p', accessToken: 'tok' })
  })

  it('splits our cookie from the others', () => {
    expect(splitPortCookie('a=1; tidepool_port_token=tok; b=2')).toEqual({ token: 'tok', rest: 'a=1; b=2' })
    expect(splitPortCookie('tidepool_port_token=tok')).toEqual({ token: 'tok' })
    expect(splitPortCookie(undefined)).toEqual({})
  })
})
