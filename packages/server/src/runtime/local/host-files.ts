/** @module runtime/local/host-files — reading host files (/proc, /sys, cgroupfs) that may be absent or gone meanwhile. */
import { readFileSync, readdirSync } from 'node:fs'

/** A file's text, or undefined when it cannot be read (missing, gone meanwhile, no permission). */
export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** A directory's entry names, or none when it cannot be listed. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** Names of a directory's subdirectories, or none when it cannot be listed. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  } catch {
    return []
  }
}
