/** @module kit/cursor — opaque pagination tokens (base64url of the last key seen). */
import { AppError } from '../core/errors.js'

export const encodeCursor = (key: string) => Buffer.from(`k:${key}`).toString('base64url')

export function decodeCursor(token: string | undefined): string | undefined {
  if (token === undefined) return undefined
  const raw = Buffer.from(token, 'base64url').toString()
  if (!raw.startsWith('k:')) throw new AppError('invalid_request', `nextToken ${JSON.stringify(token)} is not a token this API returned; pass the nextToken of the previous page`)
  return raw.slice(2)
}
