/**
 * @module @tidepool/sdk — the contract (zod schemas + operation table) and the fetch-based client.
 *
 * Any export added here becomes public API, and removing one breaks users: every name is listed in
 * `public-api.txt`, which `index.test.ts` compares with this file (named exports only, no `export *`).
 */
export { errorStatus, errorCodes, errorExitCode, ErrorBody, ErrorDetail } from './contract/errors.js'
export type { ErrorCode, QuotaDetails } from './contract/errors.js'
export { Metadata, Envs, PageInput, page, Timestamp } from './contract/common.js'
export {
  SandboxId,
  SandboxState,
  Resources,
  Lifecycle,
  NetworkPolicy,
  FilesystemPolicy,
  CreateSandboxInput,
  Isolation,
  SandboxRef,
  ListSandboxesInput,
  SandboxPage,
  PatchSandboxInput,
  ExecInput,
  ExecResult,
  CommandInfo,
  CommandRef,
  ExecStreamLine,
  OneShotInput,
  OneShotResult,
  OneShotStreamLine,
  FilePath,
  FileRef,
  WriteFileInput,
  RenameFileInput,
  FileEntry,
  ListFilesInput,
  FileList,
  FileStat,
  SandboxMetrics,
  WarmPool,
  WarmPoolList,
} from './contract/sandbox.js'
export { SnapshotId, SnapshotLabels, CreateSnapshotInput, SnapshotRef, ListSnapshotsInput, SnapshotPage, ForkSandboxInput, ForkResult, ResetSandboxInput, maxForkCount } from './contract/snapshots.js'
export { scopes, Scope, ProjectName, Principal, CreateTokenInput, TokenInfo, CreatedToken, TokenPage } from './contract/auth.js'
export {
  AuditRecord,
  AuditResult,
  ListAuditInput,
  AuditPage,
  AuditGraphInput,
  AuditGraph,
  AuditVerifyResult,
  ReplayInput,
  ReplayStep,
  ReplayReport,
  SandboxEvent,
  SandboxEventPage,
} from './contract/audit.js'
export { CallMeta, callMetaHeader, callMetaHeaderValue, callIdHeader, maxPromptChars } from './contract/call-meta.js'
export type { Operation, HttpMethod } from './contract/operation.js'
export { operations } from './contract/operations.js'
export type {
  Operations,
  OpName,
  OpInput,
  OpOutput,
  Api,
  SandboxOpName,
  AccessOpName,
  InsightsOpName,
  DataOpName,
  TemplatesOpName,
  SnapshotOpName,
  ActionsOpName,
  NetworkOpName,
  PortsOpName,
  PolicyOpName,
  WorkflowsOpName,
  EnvironmentsOpName,
  WebhooksOpName,
  GateOpName,
} from './contract/operations.js'
export { Ports, portHost, portHostSuffix } from './sandbox-ports.js'
export {
  EnvName,
  ServiceName,
  RoutingKey,
  UpstreamUrl,
  ServiceSpec,
  CreateEnvironmentInput,
  Environment,
  EnvironmentPage,
  Fork,
  CreateForkInput,
  RoutedService,
  RouteMetric,
  EnvironmentMetrics,
  UpstreamProtocol,
  ForkLaunch,
  TraceHop,
  RequestTrace,
  EnvironmentTraces,
  ServiceCost,
  EnvironmentCost,
  environmentsOps,
} from './contract/environments.js'
export {
  webhookEvents,
  WebhookEvent,
  WebhookUrl,
  CreateWebhookInput,
  Webhook,
  CreatedWebhook,
  WebhookDelivery,
  DeliveryAttempt,
  CreateApprovalLinkInput,
  ApprovalLink,
  webhooksOps,
} from './contract/webhooks.js'
export { gateOps, GateTargetId, ProposalId, CreateGateTargetInput, GateTarget, CreateProposalInput, Proposal, RehearsalEvidence, Classification, ProposalState } from './contract/gate.js'
export { PortNumber, PortRef, SetPortPublicInput, PortExposure, portsOps } from './contract/ports.js'
export { PolicyStatus, policyOps } from './contract/policy.js'
export { ActionName, ActionInfo, ActionList, RunActionInput, ActionResult, actionsOps } from './contract/actions.js'
export {
  SandboxNetwork,
  PatchSandboxNetworkInput,
  NetworkEvent,
  NetworkEventPage,
  ListNetworkEventsInput,
  ListStubCallsInput,
  NetworkStats,
  CreateSecretInput,
  SecretInfo,
  StubCall,
  EgressVerdict,
  networkOps,
} from './contract/network.js'
export {
  GetWorkflowReportInput,
  maxWorkflowChars,
  ReportFormat,
  RunWorkflowInput,
  WorkflowReport,
  WorkflowRun,
  WorkflowRunId,
  WorkflowRunPage,
  WorkflowRunSummary,
  WorkflowStepResult,
  workflowsOps,
} from './contract/workflows.js'
// Templates: the schema `Template` is exported as `TemplateInfo` so that `Template` is the class (as with Sandbox).
export {
  TemplateName,
  AbsPath,
  TemplateCommand,
  ImageSource,
  TemplateBase,
  TemplateStep,
  ReadyCheck,
  BuildTemplateInput,
  TemplateLayer,
  TemplateBuildInfo,
  TemplateBuildEvent,
  TemplateRef,
  ListTemplatesInput,
  TemplatePage,
  TemplateList,
  BuildLogRef,
  BuildLog,
  maxCopyBytes,
  templatesOps,
  Template as TemplateInfo,
} from './contract/templates.js'

// Client side: the fetch client, ApiError, and the E2B-shaped Sandbox class. The `Sandbox` schema of
// the contract is exported as `SandboxInfo` (E2B's name for it) so that `Sandbox` is the class.
export { Sandbox as SandboxInfo } from './contract/sandbox.js'
export { Snapshot as SnapshotInfo } from './contract/snapshots.js'
export { ApiError, isApiError } from './api-error.js'
export type { ApiErrorCode, ApiErrorInit } from './api-error.js'
export { createClient, paginate } from './client.js'
export type { Client, ClientApi, ClientExtras, ClientInput, ClientOptions, FetchLike, RawBody, RequestOptions, StreamEnd, StreamLine, StreamOpName, StreamOptions } from './client.js'
export { Sandbox, DEFAULT_API_URL } from './sandbox.js'
export { Snapshot } from './snapshot.js'
export type { SnapshotListOptions } from './snapshot.js'
export type { ConnectionOptions, SandboxInfoPage, SandboxListOptions, SandboxOptions } from './sandbox.js'
export { Commands, CommandHandle, CommandExitError } from './sandbox-commands.js'
export type { CommandResult, RunOptions } from './sandbox-commands.js'
export type { OneShotOptions } from './sandbox-run.js'
export { Files } from './sandbox-files.js'
export { Template } from './template.js'
export type { TemplateBuildOptions, TemplateListOptions } from './template.js'
export type { FileOptions, ReadOptions, WriteEntry } from './sandbox-files.js'
export {
  DataSourceId,
  MirrorId,
  CloneId,
  DataSnapshotId,
  CreateDataSourceInput,
  DataSource,
  DataSourcePage,
  TableSample,
  SampleSpec,
  MaskKind,
  MaskRule,
  MaskingSpec,
  CreateMirrorInput,
  MirrorTableReport,
  MirrorReport,
  PiiCounts,
  ColumnMasking,
  TableMasking,
  MaskingReport,
  PlanMaskingInput,
  MirrorProgress,
  Mirror,
  MirrorPage,
  CreateCloneInput,
  DataSnapshot,
  Clone,
  ClonePage,
  PatchCloneInput,
  ResetCloneInput,
} from './contract/data.js'
export {
  RunId,
  Variant,
  InfraMetrics,
  CreateRunInput,
  Run,
  RunRef,
  ListRunsInput,
  RunPage,
  JunitFramework,
  IngestJunitInput,
  FileProblem,
  JunitIngestResult,
  RunEvent,
  IngestEventsInput,
  IngestEventsResult,
  FinishRunInput,
  FinishRunResult,
  TestStatus,
  TestTier,
  FlakyEvidenceKind,
  Quarantine,
  InsightTest,
  ListTestsInput,
  InsightTestPage,
  HistoryEntry,
  TestHistoryInput,
  TestHistory,
  AnomalyKind,
  Anomaly,
  ListAnomaliesInput,
  AnomalyPage,
  ErrorSignature,
  ListSignaturesInput,
  SignaturePage,
  Cluster,
  ClusterList,
  RootCauseClass,
  Evidence,
  TriageFailure,
  RemediationKind,
  GateResult,
  Remediation,
  Triage,
  TriageInput,
  ListRemediationsInput,
  RemediationPage,
  RerunRequest,
  ListRerunRequestsInput,
  RerunRequestPage,
  DecideRemediationInput,
  InsightsSettings,
  PutInsightsSettingsInput,
  Kpis,
  KpisInput,
  AnalyzeInput,
  AnalyzeResult,
  insightsOps,
} from './contract/insights.js'
