/**
 * @module mcp/event-store — resumable Streamable HTTP streams: the last messages of each session kept in
 * memory, so a client that lost its SSE connection reconnects with Last-Event-ID and gets what it missed.
 * Bounded per session; ids carry their stream so a replay never crosses streams.
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'

export class BoundedEventStore implements EventStore {
  readonly #events: { id: string; streamId: string; message: JSONRPCMessage }[] = []
  #seq = 0

  constructor(private readonly max = 512) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}_${++this.#seq}`
    this.#events.push({ id, streamId, message })
    if (this.#events.length > this.max) this.#events.shift()
    return id
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.#events.find((e) => e.id === eventId)?.streamId
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const at = this.#events.findIndex((e) => e.id === lastEventId)
    if (at < 0) return ''
    const streamId = this.#events[at]!.streamId
    for (const e of this.#events.slice(at + 1)) if (e.streamId === streamId) await send(e.id, e.message)
    return streamId
  }
}
