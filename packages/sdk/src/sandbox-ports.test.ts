import { describe, expect, it } from 'vitest'
import { createClient } from './client.js'
import { Sandbox } from './sandbox.js'
import { portHost } from './sandbox-ports.js'
import { sandboxInfo } from './sandbox.fixture.js'

const SBX = 'sbx_k3j9x2m1q8w7'

describe('sbx.getHost and sbx.ports.url', () => {
  it("give E2B's host shape with the API's port, and the path form under baseUrl", () => {
    const sbx = new Sandbox(createClient({ baseUrl: 'http://127.0.0.1:7070/', token: 't' }), sandboxInfo(SBX))
    expect(sbx.getHost(3000)).toBe(`3000-${SBX}.sandbox.localhost:7070`)
    expect(sbx.ports.url(3000)).toBe(`http://3000-${SBX}.sandbox.localhost:7070/`)
    expect(sbx.ports.url(3000, { form: 'path' })).toBe(`http://127.0.0.1:7070/v1/sandboxes/${SBX}/ports/3000/`)
  })

  it("leaves the port out when the API URL has none (the scheme's default)", () => {
    expect(portHost('https://tidepool.example', SBX, 8080)).toBe(`8080-${SBX}.sandbox.localhost`)
  })
})
