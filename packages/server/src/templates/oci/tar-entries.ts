/**
 * @module templates/oci/tar-entries — one tar stream, entry by entry, each handled to the end before
 * the next is read.
 *
 * Why the `tar` package's Parser and not a hand-written reader: pax headers (long names, big uids,
 * mtimes), GNU long names, base-256 numbers and checksums are each easy to get subtly wrong, and the
 * Parser is the reader npm itself uses. We use only its parsing: every write to disk is ours
 * (`layer-writer.ts`), because its Unpack class follows rules (absolute-path stripping, umask, its own
 * ownership logic) that are not the ones a rootfs needs.
 */
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { Parser, type ReadEntry } from 'tar'
import { OciError } from './oci-error.js'

export type { ReadEntry }

/**
 * Feeds `input` (plain tar bytes) to the Parser and calls `handle` for each entry in order. `handle`
 * must consume the entry's body (read it or `resume()` it). Strict: a bad checksum or a truncated
 * archive is an error, not a warning.
 */
export async function forEachTarEntry(input: Readable, what: string, handle: (e: ReadEntry) => Promise<void>): Promise<void> {
  const parser = new Parser({ strict: true })
  let failure: unknown
  let current: ReadEntry | undefined
  let rejectFailed: (err: unknown) => void = () => {}
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject))
  failed.catch(() => {})
  const fail = (err: unknown): void => {
    if (failure !== undefined) return
    failure = err
    rejectFailed(err)
    // Ends a handler blocked on the body of an entry that will never get more bytes (it then sees a short body).
    if (current && !current.emittedEnd) current.end()
  }
  let chain: Promise<void> = Promise.resolve()
  parser.on('entry', (e: ReadEntry) => {
    chain = chain
      .then(async () => {
        if (failure !== undefined) return void e.resume()
        current = e
        await handle(e)
        current = undefined
      })
      .catch(fail)
  })
  parser.on('error', (err: Error) => fail(new OciError('bad_image', `${what} is not a valid tar: ${err.message}`)))
  const ended = new Promise<void>((resolve) => parser.on('end', resolve))
  try {
    for await (const chunk of input) {
      if (failure !== undefined) break
      // The Parser says "false" while the current entry's consumer is behind: wait, so memory stays bounded.
      if (!parser.write(chunk as Buffer)) await Promise.race([once(parser, 'drain'), failed])
    }
    if (failure === undefined) {
      parser.end()
      await Promise.race([ended, failed])
      await chain
    }
  } catch (err) {
    fail(err)
  }
  if (failure !== undefined) {
    input.destroy()
    await chain.catch(() => {})
    throw failure
  }
}
