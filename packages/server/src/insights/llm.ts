/** @module insights/llm — optional rewrite of a triage summary by any OpenAI-compatible chat completions endpoint. */
import type { InsightsConfig } from './config.js'

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{
  ok: boolean
  status: number
  text(): Promise<string>
}>

const system = [
  'You rewrite CI triage summaries for a pull-request comment.',
  'Keep every fact, number, test name, run id and commit exactly as given; invent nothing; drop nothing that says what failed or what to do.',
  'Lead with what the author should do. Keep it short and in GitHub Markdown.',
].join(' ')

/** POSTs `{url}/chat/completions`; returns the rewritten Markdown or throws with a reason. */
export async function rewriteTriage(cfg: InsightsConfig['llm'], apiKey: string | undefined, markdown: string, fetchImpl: FetchLike): Promise<string> {
  if (!cfg.url) throw new Error('no LLM endpoint configured (insights.llm.url)')
  const url = `${cfg.url.replace(/(?<!\/)\/+$/, '')}/chat/completions`
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({
      model: cfg.model,
      temperature: 0,
      max_tokens: cfg.maxTokens,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: markdown },
      ],
    }),
    signal: AbortSignal.timeout(cfg.timeoutMs),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`LLM endpoint answered ${res.status}: ${text.slice(0, 200)}`)
  let body: { choices?: { message?: { content?: unknown } }[] }
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    throw new Error('LLM endpoint did not answer JSON')
  }
  const content = body.choices?.[0]?.message?.content
  if (typeof content !== 'string' || !content.trim()) throw new Error('LLM answer has no choices[0].message.content')
  return content.trim()
}
