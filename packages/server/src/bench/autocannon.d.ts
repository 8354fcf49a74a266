/** The subset of autocannon (8.x, untyped) that bench/router.ts calls. */
declare module 'autocannon' {
  interface Stats {
    average: number
    mean: number
    p50: number
    p99: number
  }
  interface Result {
    requests: Stats & { total: number }
    latency: Stats
    errors: number
    non2xx: number
    timeouts: number
  }
  interface Options {
    url: string
    connections: number
    duration: number
    pipelining?: number
    headers?: Record<string, string>
  }
  function autocannon(opts: Options): Promise<Result>
  export default autocannon
}
