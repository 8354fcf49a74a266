/** @module core/clock — time as a dependency, so tests can move it. */
export interface Clock {
  now(): number
}
export const systemClock: Clock = { now: () => Date.now() }
export const iso = (ms: number) => new Date(ms).toISOString()
