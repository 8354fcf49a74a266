/** @module ndjson — reads an NDJSON response body, one parsed line at a time. */
import { ApiError } from './api-error.js'

export const STOP = Symbol('stop')

/**
 * Read an NDJSON body line by line, decoding UTF-8 across chunk boundaries, and hand each parsed
 * value to `onValue` (awaited, so a slow consumer slows the reader). Returning STOP cancels the rest.
 */
export async function readNdjson(body: ReadableStream<Uint8Array>, onValue: (value: unknown) => Promise<unknown>): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  let drained = false
  const emit = async (line: string): Promise<boolean> => {
    const text = line.trim()
    if (text === '') return false
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw new ApiError('internal', `malformed NDJSON line from the server: ${text.slice(0, 200)}`)
    }
    return (await onValue(value)) === STOP
  }
  try {
    for (;;) {
      const { done, value } = await reader.read()
      buffered += done ? decoder.decode() : decoder.decode(value, { stream: true })
      const lines = buffered.split('\n')
      buffered = done ? '' : (lines.pop() ?? '')
      for (const line of lines) if (await emit(line)) return
      if (done) {
        drained = true
        return
      }
    }
  } finally {
    if (!drained) reader.cancel().catch(() => {})
  }
}
