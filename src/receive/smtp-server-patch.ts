import { SMTPConnection } from 'smtp-server/lib/smtp-connection';

/**
 * smtp-server prefixes every reply with an enhanced status code derived from the basic code
 * alone (550 → 5.0.0), even when the handler's text already starts with the precise one
 * ("5.7.1 Sender domain not allowed"), which would read "550 5.0.0 5.7.1 …". This adapter
 * makes a reply whose text starts with an enhanced code keep exactly that one. It is the only
 * place Ferry reaches into smtp-server's internals, applied once.
 */
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function installEnhancedCodePassthrough(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { send(code: number, data: unknown, context?: unknown): void };
  const original = proto.send;
  proto.send = function send(this: unknown, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string' && ENHANCED.test(data)) return original.call(this, code, data, false);
    return original.call(this, code, data, context);
  };
}
