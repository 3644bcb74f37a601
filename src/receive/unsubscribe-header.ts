/**
 * `X-Ferry-Unsubscribe: one-click` asks Ferry to add its own one-click List-Unsubscribe headers
 * (RFC 8058) for each recipient. The header is an instruction to Ferry: every instance is removed
 * from the stored header block (any value), so it is neither sent nor covered by the signature.
 */
const NAME = 'x-ferry-unsubscribe';

export function takeUnsubscribeRequest(block: Buffer): { headers: Buffer; requested: boolean } {
  const text = block.toString('latin1');
  if (!text.toLowerCase().includes(NAME)) return { headers: block, requested: false };
  const lines = text.split('\r\n');
  const kept: string[] = [];
  let requested = false;
  let dropping = false;
  let value = '';
  const finish = (): void => {
    if (dropping && value.trim().toLowerCase() === 'one-click') requested = true;
    dropping = false;
    value = '';
  };
  for (const line of lines) {
    const continuation = line.startsWith(' ') || line.startsWith('\t');
    if (continuation && dropping) {
      value += ` ${line.trim()}`;
      continue;
    }
    if (!continuation) finish();
    const colon = line.indexOf(':');
    if (!continuation && colon > 0 && line.slice(0, colon).trim().toLowerCase() === NAME) {
      dropping = true;
      value = line.slice(colon + 1);
      continue;
    }
    kept.push(line);
  }
  finish();
  return { headers: Buffer.from(kept.join('\r\n'), 'latin1'), requested };
}
