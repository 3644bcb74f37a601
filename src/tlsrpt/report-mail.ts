import MailComposer from 'nodemailer/lib/mail-composer';
import { splitHeader } from '../core/header-block.js';
import { reportFileName, reportSubject } from './report.js';

/**
 * The RFC 8460 §5.3 mail carrying one gzipped report: multipart/report; report-type="tlsrpt",
 * a human-readable text part and the report as application/tlsrpt+gzip, with the
 * TLS-Report-Domain and TLS-Report-Submitter header fields. Composed by nodemailer's
 * MailComposer (never by hand); returned split into the header block and body as Ferry stores mail.
 */
export interface ReportMailInput {
  from: string;
  to: readonly string[];
  submitter: string;
  organization: string;
  day: string;
  policyDomain: string;
  reportId: string;
  gzipped: Buffer;
  now: number;
  messageId: string;
}

export async function composeReportMail(input: ReportMailInput): Promise<{ headers: Buffer; body: Buffer; subject: string }> {
  const subject = reportSubject(input.submitter, input.policyDomain, input.reportId);
  const node = new MailComposer({
    from: input.from,
    to: [...input.to],
    subject,
    date: new Date(input.now),
    messageId: `<${input.messageId}>`,
    headers: {
      'TLS-Report-Domain': input.policyDomain,
      'TLS-Report-Submitter': input.submitter,
      'Auto-Submitted': 'auto-generated',
    },
    text: `This is an aggregate TLS report (RFC 8460) from ${input.organization} (${input.submitter}) for ${input.policyDomain}, covering ${input.day} (UTC).\n`,
    attachments: [
      {
        filename: reportFileName(input.submitter, input.day, input.policyDomain),
        content: input.gzipped,
        contentType: 'application/tlsrpt+gzip',
        contentTransferEncoding: 'base64',
      },
    ],
  }).compile();
  // MailComposer makes the text and one attachment a multipart/mixed; RFC 8460 §5.3 names the
  // container multipart/report. The node keeps its boundary when the type changes.
  node.setHeader('Content-Type', 'multipart/report; report-type="tlsrpt"');
  // The envelope is Ferry's own (a null sender), not derived from these headers; Bcc never applies.
  const raw = await node.build();
  const crlf = Buffer.from(raw.toString('latin1').split('\r\n').join('\n').split('\n').join('\r\n'), 'latin1');
  // Stored as intake stores mail: the header block keeps its blank line, the body follows it.
  const { header, rest } = splitHeader(crlf);
  return { headers: Buffer.concat([header, rest.subarray(0, 2)]), body: rest.subarray(2), subject };
}
