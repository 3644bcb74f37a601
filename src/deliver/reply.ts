import type { SmtpReply } from '../core/types.js';

/**
 * Parses one SMTP reply as the SMTP client hands it over ("550-5.1.1 first\r\n550 5.1.1 last").
 * Kept local and tiny on purpose: deliver only records facts; reading meaning into the text is
 * the classifier's job, with its own parser.
 */
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

export function parseReply(raw: string): SmtpReply | null {
  const lines = raw.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.length > 0);
  const first = lines[0];
  if (!first) return null;
  const m = /^(\d{3})(?:[ -]|$)/.exec(first);
  if (!m) return null;
  const code = Number(m[1]);
  // the enhanced code is only believed when its class matches the reply's (RFC 3463)
  const rest = first.slice(4).trimStart();
  const e = ENHANCED.exec(rest);
  const enhanced = e && e[1] === String(code)[0] ? `${e[1]}.${e[2]}.${e[3]}` : null;
  return { code, enhanced, text: lines.join(' ') };
}
