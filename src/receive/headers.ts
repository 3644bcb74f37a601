import addressparser from 'nodemailer/lib/addressparser';

/** The few header facts intake needs, read from the captured header block. */
export interface HeaderFacts {
  fromAddress: string | null;
  fromName: string | null;
  /** Count of From headers (RFC 5322 allows one; more is a spoofing trick). */
  fromCount: number;
  messageId: string | null;
  subject: string | null;
}

/** Unfolds and splits a header block into [name, value] pairs, in order. */
export function parseHeaderLines(block: Buffer): [string, string][] {
  const text = block.toString('latin1');
  const out: [string, string][] = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 0) {
      const last = out[out.length - 1]!;
      last[1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

export function readHeaderFacts(block: Buffer): HeaderFacts {
  const lines = parseHeaderLines(block);
  const first = (name: string) => lines.find(([n]) => n === name)?.[1] ?? null;
  const fromValues = lines.filter(([n]) => n === 'from').map(([, v]) => v);
  let fromAddress: string | null = null;
  let fromName: string | null = null;
  if (fromValues[0] !== undefined) {
    // Header bytes may be UTF-8 (RFC 6532): decode for the address parser.
    const value = Buffer.from(fromValues[0], 'latin1').toString('utf8');
    const parsed = addressparser(value, { flatten: true }) as { address?: string; name?: string }[];
    const withAddress = parsed.find((p) => p.address);
    if (withAddress?.address) {
      fromAddress = withAddress.address;
      fromName = withAddress.name || null;
    }
  }
  const subject = first('subject');
  return {
    fromAddress,
    fromName,
    fromCount: fromValues.length,
    messageId: first('message-id'),
    subject: subject ? Buffer.from(subject, 'latin1').toString('utf8').slice(0, 500) : null,
  };
}
