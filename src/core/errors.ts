/**
 * Errors carry a stable code, the phase they happened in, and (when there is one) the SMTP
 * reply. Callers branch on `code`, never on message text.
 */
export type FerryErrorCode =
  | 'FERRY_ERR_CONFIG'
  | 'FERRY_ERR_CONFIG_FILE'
  | 'FERRY_ERR_STORE'
  | 'FERRY_ERR_NO_DATA'
  | 'FERRY_ERR_CORRUPT'
  | 'FERRY_ERR_LOCKED'
  | 'FERRY_ERR_SPOOL'
  | 'FERRY_ERR_SPOOL_MISSING'
  | 'FERRY_ERR_NOT_FOUND'
  | 'FERRY_ERR_EXISTS'
  | 'FERRY_ERR_IMPORT_SKIPPED'
  | 'FERRY_ERR_USAGE'
  | 'FERRY_ERR_TLS'
  | 'FERRY_ERR_DNS'
  | 'FERRY_ERR_DELIVERY'
  | 'FERRY_ERR_DKIM'
  | 'FERRY_ERR_SIGN_WORKER'
  | 'FERRY_ERR_SHUTDOWN'
  | 'FERRY_ERR_ILLEGAL_TRANSITION'
  | 'FERRY_ERR_INTERNAL';

export interface FerryErrorOptions {
  phase?: string;
  /** An SMTP reply to give the client, when this error ends an SMTP command. */
  responseCode?: number;
  cause?: unknown;
}

export class FerryError extends Error {
  readonly code: FerryErrorCode;
  readonly phase: string | undefined;
  /** smtp-server turns `responseCode` on a callback error into the reply code. */
  readonly responseCode: number | undefined;

  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.phase = options.phase;
    this.responseCode = options.responseCode;
  }
}

/** An SMTP refusal: the message is the reply text (with enhanced code), responseCode the code. */
export function smtpError(responseCode: number, text: string, phase?: string): FerryError {
  return new FerryError('FERRY_ERR_USAGE', text, { responseCode, phase });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
