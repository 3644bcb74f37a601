// One accepted message as the store's queue.accept takes it (AcceptedMessage): a submission with
// one queued recipient. The benches that feed the store directly build theirs with this.
export function acceptedMessage({ id, headers, body, sender, helo, subject, address }) {
  return {
    message: {
      id, createdAt: Date.now(), sender, username: null, clientIp: '127.0.0.1', helo, tls: null,
      size: headers.length + body.length, headers, body, spoolFile: null, headerFrom: sender, messageIdHeader: null,
      subject, eightBit: false, smtputf8: false, kind: 'submission',
    },
    recipients: [{ address, domain: address.slice(address.indexOf('@') + 1), status: 'queued', reason: null, category: null }],
  };
}

// The writer benches' message: SIZE bytes in all, a two-line header block, id `${prefix}<pid>X<n>`.
export function writerBenchMessages(prefix, size) {
  let seq = 0;
  const bodyBytes = Buffer.alloc(Math.max(0, size - 200), 'x');
  return () => {
    const id = `${prefix}${process.pid}X${String(++seq).padStart(7, '0')}`;
    const headers = Buffer.from(`Received: bench\r\nSubject: ${id}\r\n\r\n`);
    return acceptedMessage({ id, headers, body: Buffer.from(bodyBytes), sender: 'app@example.com', helo: 'client.test', subject: id, address: `r${seq}@example.net` });
  };
}
