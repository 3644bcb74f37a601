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
