/** @module templates/progress-stream — a build's progress events as an async iterable (the NDJSON stream), ending with `{ template }`. */
import type { TemplateInfo as Template, TemplateBuildEvent } from '@tidepool/sdk'

/**
 * Runs `build`, yielding each progress event as it happens and then `{ template }`; a failed build
 * makes the iteration throw (the HTTP shell writes it as an error line). Events are small and a build
 * emits at most its bounded log's worth per step, so they are queued rather than back-pressured: a
 * build never waits for a slow client.
 */
export async function* buildProgress(build: (onProgress: (e: TemplateBuildEvent) => void) => Promise<Template>): AsyncGenerator<TemplateBuildEvent | { template: Template }> {
  const queue: TemplateBuildEvent[] = []
  let wake: (() => void) | undefined
  let done = false
  const poke = () => {
    wake?.()
    wake = undefined
  }
  const result = build((e) => {
    queue.push(e)
    poke()
  }).finally(() => {
    done = true
    poke()
  })
  // Settled in the loop below; this keeps an early failure from being an unhandled rejection meanwhile.
  result.catch(() => {})
  for (;;) {
    while (queue.length > 0) yield queue.shift()!
    if (done) break
    await new Promise<void>((r) => (wake = r))
  }
  yield { template: await result }
}
