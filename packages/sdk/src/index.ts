/** @module @tidepool/sdk — the contract (zod schemas + operation table) and the fetch-based client. */
export { errorStatus, errorCodes, errorExitCode, ErrorBody, ErrorDetail } from './contract/errors.js'
export type { ErrorCode, QuotaDetails } from './contract/errors.js'
export { Metadata, Envs, PageInput, page, Timestamp } from './contract/common.js'
export {
  SandboxId, SandboxState, Resources, Lifecycle, NetworkPolicy, FilesystemPolicy, CreateSandboxInput, Sandbox,
  SandboxRef, ListSandboxesInput, SandboxPage, PatchSandboxInput, ExecInput, ExecResult, CommandInfo, CommandRef,
  ExecStreamLine, FilePath, FileRef, WriteFileInput, RenameFileInput, FileEntry, ListFilesInput, FileList, FileStat,
  SandboxMetrics, Template, TemplateList,
} from './contract/sandbox.js'
export { scopes, Scope, ProjectName, Principal, CreateTokenInput, TokenInfo, CreatedToken, TokenPage } from './contract/auth.js'
export { AuditRecord, ListAuditInput, AuditPage, AuditVerifyResult, SandboxEvent, SandboxEventPage } from './contract/audit.js'
export type { Operation, HttpMethod } from './contract/operation.js'
export { operations } from './contract/operations.js'
export type { Operations, OpName, OpInput, OpOutput, Api } from './contract/operations.js'
