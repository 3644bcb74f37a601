/**
 * Whether a name can stand for this relay on the internet (EHLO, Received, MAILER-DAEMON@…):
 * at least two labels of letters, digits and hyphens, and not an IP address. A bare machine
 * name such as "vm" or "localhost" makes remote servers distrust or refuse the EHLO.
 */
export function isFullyQualified(name: string): boolean {
  const labels = name.replace(/\.$/, '').split('.');
  if (labels.length < 2) return false;
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}

/** The start-up warning for a hostname that is not fully qualified; null when it is. */
export function hostnameWarning(hostname: string): string | null {
  if (isFullyQualified(hostname)) return null;
  return `hostname "${hostname}" (EHLO, Received, MAILER-DAEMON@${hostname}) is not a fully qualified domain name: remote servers may refuse the mail; set "hostname" in the configuration (e.g. relay.example.com)`;
}
