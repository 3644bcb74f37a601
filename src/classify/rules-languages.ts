import { rule, type BounceRule } from './rule-types.js';

/**
 * Provider codes and non-English wordings from the development rows of languages.tsv
 * (test/classify/fixtures/corpus/README.md, "Rows added for languages and provider wordings"),
 * consulted before the other text rules because their words would otherwise be read by rules
 * written for English replies: a NetEase IP block mentions spam and unknown recipients, a
 * header-format refusal says "too long", a temporary SPF error names SPF. Written from the
 * development rows only; the held-out fifth played no part.
 */
export const LANGUAGE_RULES: readonly BounceRule[] = Object.freeze([
  // NetEase (163.com, 126.com) documents these codes in its bounce-code table.
  rule('netease-ip-blocked', 'blocked', { text: /\b(?:HL:(?:REP|MEP|IHU|IPB)|DT:RBL)\b/ }),
  rule('netease-rate', 'rate_limited', { text: /\b(?:HL:(?:ICC|IFC)|MI:(?:DMC|SFQ)|RP:(?:DRC|CCL))\b/ }),
  rule('netease-sender', 'policy', { text: /\bWM:BLU\b/ }),
  rule('netease-spam', 'spam_content', { text: /\bDT:SPM\b/ }),
  rule('netease-protocol', 'other', { text: /\b(?:MI|RP):CEL\b/ }),

  // Chinese, Japanese and Korean bounce notices (QQ Mail, Tencent Exmail, hosted mail, ISPs).
  rule('cjk-user-unknown', 'user_unknown', { text: [/(?:用户|收件人|帐号|账号|邮件地址|地址)[^，。,]{0,8}不存在|未开通/, /存在しない/] }),
  rule('cjk-rate-limited', 'rate_limited', { text: /频率|发信数超限|大量的?邮件/ }),
  rule('cjk-spam', 'spam_content', { text: /垃圾邮件/ }),
  rule('cjk-mailbox-full', 'mailbox_full', { text: [/已满|空间不足|文件夹.{0,6}数量限制/, /가득 찼/, /一杯/] }),
  rule('cjk-dormant', 'mailbox_disabled', { text: /休眠/ }),
  rule('cjk-domain', 'domain_invalid', { text: /域名不存在|域名有错误|无法被系统解析/ }),

  // European wordings.
  rule('antispam-rejected', 'spam_content', { text: /\bantyspamow|\bsystem antyspam/i }),
  rule('unused-mailbox', 'mailbox_disabled', { text: /\bper inutilizzo\b|\bpor falta de uso\b/i }),
  // Orange/La Poste: "Service refusé" as a permanent reply is their IP block.
  rule('service-refused', 'blocked', { text: /\bservice refus(?:e|é)\b/i, codeClass: [5] }),

  // Temporary failures of a check: retried, whatever the check (SPF, rDNS, authentication).
  rule('temporary-check-failure', 'temporary', {
    codeClass: [4],
    text: [
      /\btemporary (?:spf|dkim|dmarc|authentication|lookup|dns|rdns) (?:validation |lookup )?(?:error|failure)\b/i,
      /\btemporary error validating\b/i,
      /\b(?:rdns|dns) temporary failure\b/i,
      // The same said the other way round (guide P5: a check that could not be done): Gmail's
      // "Temporary error during DKIM verification", "SPF authentication failed with a temporary error".
      /\btemporary error (?:during|while|verifying)\b|\bwith a temporary error\b/i,
    ],
  }),

  // The sending IP or account is blocked, in words that name neither a list nor spam.
  rule('sender-blocked-wording', 'blocked', {
    text: [
      /\b(?:this )?ip (?:address )?has been (?:temporarily )?blocked\b/i,
      /\breject due to policy violations\b/i,
      /\bunusual rate of mail\b/i,
      /\btenant has exceeded threshold\b/i,
      /\bfiltered and this connection will be closed\b/i,
      /\bSPAM_SUSPECT\b/,
      /\bdoesn'?t want your mail\b/i,
      /\btoo many bounces\b|\bdictionary attack\b/i,
      /\bconnection refused due to abuse\b|\bnot allowed access from your location\b/i,
      /\bblocked by spam statistics\b/i,
      // The sender address itself named blocked (guide P1), before the x.1.8 sender-status rule.
      /\bsender(?: address| domain| ip)? (?:is |has been |was )?(?:blocked|blacklisted|banned|blocklisted)\b/i,
    ],
  }),

  // Format and identity refusals whose words read like size or user errors.
  rule('header-format', 'policy', {
    text: [
      /\b(?:date|message) header (?:is )?(?:too (?:far|old)|ridiculously long|not crlf)/i,
      /\bheader line is too long\b|\bline is too long\b/i,
      /\bonly one \S+ header allowed\b|\binvalid [\w-]+ header content\b/i,
    ],
  }),
  rule('helo-identity', 'policy', {
    text: [
      /\b(?:helo|ehlo) (?:denied|should be)\b/i,
      /\binvalid (?:ehlo|helo) domain\b|\bhelohost\b|\binvalid address format in helo\b/i,
      /\bnot who you say you are\b/i,
    ],
  }),
  rule('relay-refused', 'policy', { text: /\brelay operation rejected\b|\bdenies relay\b|\bdo not relay\b/i }),
  rule('sender-identity', 'policy', {
    text: [
      /\bfake sender\b|\bsender is unvalidated\b|\bdoesn'?t match auth domain\b|\bnull senders?\b/i,
      /\bsending for this account is disabled\b/i,
      /\bremote ip check\b|\bsmtpport check\b|\bsecurity failure\b|\bprotocol synchronization\b/i,
    ],
  }),

  rule('bad-recipient-address', 'user_unknown', {
    text: [
      /\brecipient address (?:syntax error|must contain a domain)\b/i,
      /\brestricted characters in address\b|\brecipient verification failed\b|\bmailing list not found\b/i,
    ],
  }),
  rule('mailbox-size-exceeded', 'mailbox_full', { text: /\bmailbox size (?:limit )?exceeded\b|\btrouble in home directory\b/i }),
  rule('mailbox-inactive-wording', 'mailbox_disabled', {
    text: /\binactive mbox\b|\bmailbox temporarily disabled\b|\bpolicy rejection on the target address\b|\bdomain \S+ is currently suspended\b/i,
  }),
  rule('slow-down', 'rate_limited', { text: /\btry again slower\b|\bconcurrent connections per\b|\bfrequency limited\b/i }),
]);
