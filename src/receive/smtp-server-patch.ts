import { SMTPConnection } from 'smtp-server/lib/smtp-connection';

/**
 * The only place Ferry reaches into smtp-server's internals (pinned to an exact version in
 * package.json; test/receive/smtp-server-patch.test.ts fails loudly when the shape changes).
 * Installed once, process-wide; servers that do not ask for a behaviour keep the library's own.
 *
 * 1. Enhanced codes: smtp-server prefixes every reply with an enhanced status code derived from
 *    the basic code alone (550 → 5.0.0), even when the handler's text already starts with the
 *    precise one ("5.7.1 Sender domain not allowed"), which would read "550 5.0.0 5.7.1 …". A
 *    reply whose text starts with an enhanced code keeps exactly that one.
 * 2. Greeting pause: the library waits a hard-coded 100 ms before every 220 greeting (a client
 *    that talks first is an "early talker", refused with 421). A server given the option
 *    GREETING_DELAY_OPTION — a function of the client address returning milliseconds — waits that
 *    long instead; 0 greets at once.
 * 3. AUTH before TLS: a session whose `disabledCommands` hides AUTH (Ferry does so for clients
 *    that must use STARTTLS first) is answered "538 5.7.11 Encryption required" instead of the
 *    library's "500 command not recognized", still before any credential is asked for.
 */
export const GREETING_DELAY_OPTION = 'ferryGreetingDelayMs';
/** Set on a session (`session[AUTH_NEEDS_TLS]`) whose AUTH is disabled until STARTTLS. */
export const AUTH_NEEDS_TLS = 'ferryAuthNeedsTls';

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

interface ConnectionInternals {
  _server: { options: Record<string, unknown>; connections: Set<unknown> };
  session: Record<string, unknown>;
  name: string;
  remoteAddress: string;
  _setListeners(cb: () => void): void;
  connectionReady(): void;
  send(code: number, data: unknown, context?: unknown): void;
  init(): void;
}

export function installSmtpServerPatches(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals;

  const send = proto.send;
  proto.send = function (this: ConnectionInternals, code: number, data: unknown, context?: unknown) {
    if (code === 500 && context === 'AUTH' && this.session?.[AUTH_NEEDS_TLS] === true) {
      return send.call(this, 538, '5.7.11 Encryption required: use STARTTLS before AUTH', false);
    }
    if (typeof data === 'string' && ENHANCED.test(data)) return send.call(this, code, data, false);
    return send.call(this, code, data, context);
  };

  const init = proto.init;
  proto.init = function (this: ConnectionInternals) {
    const delayOf = this._server.options[GREETING_DELAY_OPTION];
    if (typeof delayOf !== 'function') return init.call(this);
    // The library's init() with its fixed pause replaced by the server's choice.
    this._setListeners(() => {
      const max = this._server.options.maxClients as number | undefined;
      if (max && this._server.connections.size > max) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      const ms = (delayOf as (ip: string) => number)(this.remoteAddress);
      if (ms <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), ms).unref();
    });
  };
}

/** The library version this adapter was written against (package.json pins exactly this). */
export const SMTP_SERVER_VERSION = '3.21.6';
