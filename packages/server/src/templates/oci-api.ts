/**
 * @module templates/oci-api — the image import as the templates service takes it: injected functions
 * (TemplateDeps.importImage / removeImage), so a test can hand in a recording one and the service never
 * reaches a registry unless dispatch/services.ts wires templates/oci in.
 */
import type { ImportOptions, importImage, removeImage } from './oci/index.js'

export type { OciImage, OciSource } from './oci/index.js'
export type OciProgress = Parameters<NonNullable<ImportOptions['onProgress']>>[0]
export type ImportImage = typeof importImage
export type RemoveImage = typeof removeImage
