/** @module e2b/call — the E2B shells' one way into tidepool: an operation through dispatch, as a principal. */
import type { OpInput, OpName, OpOutput, Principal } from '@tidepool/sdk'
import { newId } from '../core/ids.js'
import { dispatch } from '../dispatch/dispatch.js'
import type { Services } from '../dispatch/services.js'

export interface CallOptions {
  /** Ask a streaming operation for its lines (dispatch returns a StreamResult). */
  stream?: boolean
  signal?: AbortSignal
}

/** Runs `op` for `principal` like the HTTP shell does: validated, authorised and audited by dispatch. */
export async function call<K extends OpName>(svc: Services, principal: Principal, op: K, input: OpInput<K>, o: CallOptions = {}): Promise<OpOutput<K>> {
  const requestId = newId('req', 12)
  const log = svc.log.child({ requestId, shell: 'e2b' })
  return (await dispatch(op, input, { principal, requestId, log, stream: o.stream, signal: o.signal }, svc)) as OpOutput<K>
}

/** Like call, for a streaming operation: its lines. */
export async function callStream(svc: Services, principal: Principal, op: OpName, input: unknown, signal?: AbortSignal): Promise<AsyncIterable<unknown>> {
  const requestId = newId('req', 12)
  const log = svc.log.child({ requestId, shell: 'e2b' })
  const result = (await dispatch(op, input, { principal, requestId, log, stream: true, signal }, svc)) as { lines: AsyncIterable<unknown> }
  return result.lines
}
