/**
 * A loopback server that answers the GitHub REST calls the adapter makes the way GitHub documents them
 * (issue comments list/create/update, check runs create/update) and records every call. GitHub itself
 * is not reachable from this machine; the adapter's base URL (webhooks.github.apiUrl) points here.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface GithubCall {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: any
}

export interface FakeGithub {
  url: string
  calls: GithubCall[]
  comments: Map<number, { id: number; pr: string; repo: string; body: string }>
  checkRuns: Map<number, Record<string, unknown>>
  close(): Promise<void>
}

export async function startGithubApi(): Promise<FakeGithub> {
  const calls: GithubCall[] = []
  const comments: FakeGithub['comments'] = new Map()
  const checkRuns: FakeGithub['checkRuns'] = new Map()
  let nextId = 1000
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const full = new URL(req.url ?? '/', 'http://x')
      // A GitHub Enterprise Server layout: the REST API lives under /api/v3.
      const url = new URL(full.pathname.replace(/^\/api\/v3(?=\/)/, '') + full.search, 'http://x')
      const call: GithubCall = { method: req.method ?? '', path: full.pathname + full.search, headers: req.headers, body: text ? JSON.parse(text) : undefined }
      calls.push(call)
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3' })
        res.end(JSON.stringify(body))
      }
      if (!full.pathname.startsWith('/api/v3/')) return send(404, { message: 'Not Found' })
      if (req.headers.authorization !== 'Bearer ghp_test_token') return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' })
      let m: RegExpExecArray | null
      if ((m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname))) {
        const [, repo, pr] = m as unknown as [string, string, string]
        if (req.method === 'GET') {
          const page = Number(url.searchParams.get('page') ?? '1')
          const per = Number(url.searchParams.get('per_page') ?? '30')
          const all = [...comments.values()].filter((c) => c.repo === repo && c.pr === pr)
          return send(
            200,
            all.slice((page - 1) * per, page * per).map((c) => ({ id: c.id, body: c.body, user: { login: 'tidepool[bot]' } })),
          )
        }
        if (req.method === 'POST') {
          const c = { id: nextId++, repo, pr, body: call.body.body as string }
          comments.set(c.id, c)
          return send(201, { id: c.id, body: c.body })
        }
      }
      if ((m = /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(url.pathname)) && req.method === 'PATCH') {
        const c = comments.get(Number(m[1]))
        if (!c) return send(404, { message: 'Not Found' })
        c.body = call.body.body
        return send(200, { id: c.id, body: c.body })
      }
      if (/^\/repos\/[^/]+\/[^/]+\/check-runs$/.test(url.pathname) && req.method === 'POST') {
        const id = nextId++
        checkRuns.set(id, { id, ...call.body })
        return send(201, { id, ...call.body })
      }
      if ((m = /^\/repos\/[^/]+\/[^/]+\/check-runs\/(\d+)$/.exec(url.pathname)) && req.method === 'PATCH') {
        const id = Number(m[1])
        if (!checkRuns.has(id)) return send(404, { message: 'Not Found' })
        checkRuns.set(id, { ...checkRuns.get(id), ...call.body })
        return send(200, checkRuns.get(id))
      }
      send(404, { message: 'Not Found' })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3`,
    calls,
    comments,
    checkRuns,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
