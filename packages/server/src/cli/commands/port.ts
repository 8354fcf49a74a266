/** @module cli/commands/port — `tidepool sandbox port <id> <port>`: the URLs of a server inside, and public exposure. */
import { portHost } from '@tidepool/sdk'
import type { CliCommand } from '../command.js'

export const portCommands: CliCommand[] = [
  {
    words: ['sandbox', 'port'],
    summary: 'Print the URLs of a port inside a sandbox (--public: reachable without a token; --private: not again)',
    usage: '<id> <port> [--public | --private] [--json]',
    options: { json: { type: 'boolean' }, public: { type: 'boolean' }, private: { type: 'boolean' } },
    async run({ positionals, values: v, api, io }) {
      const [id, portText] = positionals
      if (!id || !portText) throw new Error('usage: tidepool sandbox port <id> <port> [--public | --private] [--json]')
      const port = Number(portText)
      if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`port must be an integer 1-65535 (got ${JSON.stringify(portText)})`)
      if (v.public && v.private) throw new Error('--public and --private exclude each other; pass one')
      const client = await api()
      // Checks the sandbox exists for this token either way (a typo is an error, not a dead URL).
      const exposure = v.public || v.private ? await client.setPortPublic({ id, port, enabled: Boolean(v.public) }) : (await client.getSandbox({ id }), undefined)
      const host = portHost(client.baseUrl, id, port)
      const out = {
        sandboxId: id,
        port,
        host,
        url: `${new URL(client.baseUrl).protocol}//${host}/`,
        pathUrl: `${client.baseUrl}/v1/sandboxes/${id}/ports/${port}/`,
        ...(exposure ? { public: exposure.public } : {}),
      }
      io.print(out, () => [out.url, out.pathUrl, ...(exposure ? [exposure.public ? 'public: no token needed on the first URL' : 'private: a token is needed'] : [])].join('\n'))
      return 0
    },
  },
]
