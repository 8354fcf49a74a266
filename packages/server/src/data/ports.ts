/** @module data/ports — TCP ports for managed servers: free in the configured range, not held by a live server, probed. */
import { createServer } from 'node:net'

export class PortAllocator {
  readonly #from: number
  readonly #to: number
  readonly #taken: () => Promise<Set<number>>
  readonly #reserved = new Set<number>()

  /** `taken` lists the ports the store says live servers hold. */
  constructor(range: { from: number; to: number }, taken: () => Promise<Set<number>>) {
    this.#from = Math.min(range.from, range.to)
    this.#to = Math.max(range.from, range.to)
    this.#taken = taken
  }

  /** A port nobody listens on; held (in this process) until release(). */
  async take(): Promise<number> {
    const taken = await this.#taken()
    const size = this.#to - this.#from + 1
    const start = Math.floor(Math.random() * size)
    for (let i = 0; i < size; i++) {
      const port = this.#from + ((start + i) % size)
      if (taken.has(port) || this.#reserved.has(port)) continue
      this.#reserved.add(port)
      if (await canBind(port)) return port
      this.#reserved.delete(port)
    }
    throw new Error(`no free port in data.ports ${this.#from}–${this.#to}; widen the range or destroy clones`)
  }

  /** Marks a port as held (a server adopted after a restart). */
  hold(port: number): void {
    this.#reserved.add(port)
  }

  release(port: number): void {
    this.#reserved.delete(port)
  }
}

export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)))
  })
}
