/** Types of error-codes.mjs (a plain build script). */
export declare const sdkErrorsFile: string
export declare function sdkErrorCodes(source?: string): string[]
export declare function errorCodesHeader(codes?: string[]): string
