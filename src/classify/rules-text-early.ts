import { rule, type BounceRule } from './rule-types.js';

/**
 * Text rules that must run first because their wording overrides words that later rules
 * read: a greylisting reply says "blocked", an authentication failure says "rate limited", a
 * blocklist reply says "spam" or "sender address", a disabled account says "blocked".
 * Patterns describe meanings, not single samples; provider codes appear only where the
 * provider documents them (Yahoo [TSS..], Outlook (S3150), Comcast BL..., Orange OFR_...).
 */
const CHECK_UNAVAILABLE = [
  /\b(?:virus|spam|scanner|scan|spamd|clamd|rspamd|dkim|spf|dmarc|dns|milter)\w*\b.{0,25}\b(?:timed? ?out|timeout|no response|not responding|unavailable|connect(?:ion)? (?:failed|error|refused))\b/i,
  /\b(?:unable to|could not|cannot) scan\b|\bscan(?:ner)? (?:error|failure|failed)\b/i,
];

export const EARLY_TEXT_RULES: readonly BounceRule[] = Object.freeze([
  // Greylisting is a promise to accept later, whatever else the reply says.
  rule('greylisted', 'temporary', {
    text: [/greylist|grey-list|graylist|gray-list/i, /\bpostgrey\b/i, /grey\.rbl/i],
  }),
  // A scanner or an authentication check that could not run (a timeout, no answer): nothing was
  // judged yet, so the spam, virus and SPF words below must not decide (corpus guide P5). Under a
  // 5xx the same words wrap a refusal; there the rest of the table decides.
  rule('check-unavailable', 'temporary', { codeClass: [4], text: CHECK_UNAVAILABLE }),
  rule('check-unavailable-no-code', 'temporary', { codes: [0], text: CHECK_UNAVAILABLE }),
  rule('temporarily-locked', 'temporary', {
    text: [/\btemporar(?:y|ily) (?:locked|frozen)\b/i, /\blocked temporarily\b/i],
  }),
  // The relay that wrote this gave up on an earlier attempt: the address itself may be fine.
  rule('message-expired', 'temporary', {
    text: [
      /\b(?:message|queue|delivery)[ .](?:time )?expired\b/i,
      /\bunable to deliver (?:in|within) \d+/i,
      /\bmessage (?:has )?timed out in (?:the )?queue/i,
    ],
  }),
  rule('mail-loop', 'other', {
    text: [/\b(?:forwarding|aliasing(?:\/forwarding)?|message|mail|routing) loop|\bmessage (?:is )?looping\b|\bloops? back to myself|\bloop was found|\bloop count\b/i, /\bmail(?:ing)? loop/i, /\brouting loop/i, /\btoo many hops\b/i, /\bhop count exceeded/i, /\bexceeded \d+ hops/i, /\bloop detected/i],
  }),

  // --- sender authentication and identity (policy) -----------------------------------------
  rule('auth-dmarc-spf-dkim', 'policy', {
    text: [
      /dmarc|\bsender policy framework\b|\b5322\.from\b/i,
      /\bspf\b/i,
      /\bdkim\b/i,
      /\b(?:sender id|senderid|sender-id)\b/i,
      /purported responsible address/i,
      /\banti-?spoof/i,
      /\bspoof(?:ed|ing)\b/i,
      /\b(?:isn'?t|not) aligned\b/i,
      /\barc (?:validation|check)/i,
    ],
  }),
  rule('auth-required', 'policy', {
    text: [
      /\bunauthenticated\b/i,
      /\bnot authenticated\b/i,
      /\bauthenticat(?:e|ion)\b.{0,30}\b(?:required|requirements?|results|checks?|level|information|failed|needed)\b/i,
      /\b(?:requires?|must|please) (?:all senders to )?(?:turn on (?:smtp )?)?authenticat/i,
      /\bauthentification (?:requise|invalide|obligatoire)\b|\bautenticaci(?:ó|o)n (?:requerida|obligatoria)\b|\bauthentifizierung (?:erforderlich|fehlgeschlagen)\b/i,
      /\bAuthRequired\b/,
      /SenderNotAuthenticated/i,
      /\bdo(?:es)? not have permissions? to send\b/i,
      /\bauthentication (?:failure|credentials|failed|data)\b|\bincorrect authentication\b|\bcould not retrieve credentials\b/i,
      /\btoo many (?:login|authentication) attempts\b|\blog ?in with your web browser\b|\bverification failure\b/i,
      /\bunrecognized authentication type\b|\bxoauth\b|\bnot subscribed to ses\b/i,
    ],
  }),
  rule('reverse-dns', 'policy', {
    text: [
      /\bptr\b/i,
      /\breverse[ -]?(?:dns|lookup|mapping)/i,
      /\brdns\b/i,
      /\bip name lookup failed/i,
      /\bforward dns\b|\b(?:cannot|can't|could not|unable to) resolve your\b|\bfcrdns\b/i,
      /\b(?:helo|ehlo)\b.{0,40}\b(?:empty|bad|argument|not allowed|required|syntax)\b|\bbad helo\b/i,
      /\bcannot find your (?:host ?name|reverse)/i,
      /\bhelo\b.{0,40}\b(?:rejected|invalid|not valid|fully[- ]qualified|forged)/i,
      /\b(?:helo|ehlo)\b.{0,40}\b(?:does ?not exist|doesn'?t exist|(?:did|does) not resolve|not resolv)/i,
      /\bipv6 sending guidelines/i,
    ],
  }),
  rule('tls-required', 'policy', {
    text: [
      /\b(?:starttls|tls|ssl|encryption)\b.{0,20}\b(?:required|needed|mandatory)\b/i,
      /\bmust (?:issue|use) (?:a )?starttls/i,
      /\brequiretls\b/i,
      // Gmail's 4.7.29 is worded as a rate limit, but names the requirement: "this message
      // wasn't sent over a TLS connection" (guide P5).
      /\b(?:wasn'?t|was not|isn'?t|is not|not) (?:sent |delivered |transmitted )?(?:over|via|using) (?:a |an )?(?:tls|ssl|secure|encrypted)\b/i,
      // Google's translated "TLS required for RCPT domain" (German, French, Spanish, Portuguese,
      // Italian; Japanese, Chinese, Korean).
      /\b(?:tls|ssl)\b.{0,20}\b(?:erforderlich|requis|obligatoire|requerido|obligatorio|necesario|obrigat(?:ó|o)rio|necess(?:á|a)rio|richiesto|obbligatorio)\b/i,
      /(?:TLS|SSL)\s*(?:が必要|必須|이\s*필요|가\s*필요|필요)|(?:需要|必须|必須)(?:使用)?\s*(?:TLS|SSL)/,
      /\broute requires (?:encryption|tls|high-strength)|\bhigh-strength ciphers\b|\btls version\b/i,
      /\b(?:certificate|dane|dnssec|tlsa)(?:-\w+)?\b.{0,40}\b(?:invalid|expired|mismatch|failed|validation|match)/i,
      /\bfailed ?starttls\b|\bstarttls-not-supported\b|\bcertificate\b.{0,20}\b(?:invalid|not trusted|untrusted|expired)\b/i,
      // A TLS session that could not be set up, or a certificate the sender's side refused, in
      // MTAs' own words (Momentum's "TLS negotiation failed", "SSL cert … not signed by a valid CA").
      /\b(?:tls|ssl) (?:negotiation|handshake)s? (?:failed|failure|error)\b|\b(?:ssl )?cert(?:ificate)?s?\b.{0,40}\b(?:not (?:yet )?valid|not signed|does not match|self[- ]signed)\b/i,
    ],
  }),
  // Malformed messages: the fix is in the sending application, not in retrying.
  rule('message-format', 'policy', {
    text: [
      /\bnot rfc ?5322\b/i,
      /\brfc ?(?:5322|2822|822) (?:compliant|compliance|violation)/i,
      /\bmultiple addresses in from/i,
      /\bduplicate header/i,
      /\bheader (?:error|syntax)/i,
      /\binvalid header/i,
      /\bmissing (?:required )?header/i,
      /\bmalformed (?:message|header|mime)/i,
      /\b8-?bit data\b/i,
      /\bbare (?:linefeeds?|lf|cr)\b/i,
      /BareLinefeeds/i,
      /\binvalid mime\b|\bimproperly[- ]formatted\b|\bunnecessary base64\b|\bbad header\b|\bencoded-word syntax\b/i,
      /\bheaders? (?:are|is) not (?:rfc ?)?compliant|\brfcmessagenoncompliant\b|\brfc ?5322 (?:section )?[\d.]* ?compliant/i,
      /\binvalid message content\b|\bheader (?:is )?too long\b|\bheader are not accepted\b|\bdisallowed header\b|\bduplicated message-id\b/i,
    ],
  }),

  // A listed link or domain in the body is about the content, not about the sender.
  rule('content-blocklisted', 'spam_content', {
    text: [
      /\b(?:blacklisted|blocklisted|listed) (?:url|link|uri)s?\b|\buribl\b|\bsurbl\b|help_spam/i,
      /\b(?:url|link|uri|domain)s? (?:in|of) (?:(?:this|the|your) )?(?:e-?mail|message|body)\b.{0,30}\b(?:listed|blocked|blacklisted|blocklisted)\b/i,
    ],
  }),

  // --- blocklists and reputation (blocked) --------------------------------------------------
  rule('blocklisted', 'blocked', {
    text: [
      /black ?-?list/i,
      /block ?-?list/i,
      /\bblokeeri/i,
      /\bdnsbl\b/i,
      /\brbls?\b/i,
      /\b(?:sbl|xbl|pbl|dbl)\b/i,
      /spamhaus|spamcop|\bsorbs\b|cloudmark|invaluement|hostkarma|junkemailfilter|uceprotect|\bpsbl\b|mailspike|abuseat|spamrats/i,
      /barracuda ?(?:central|reputation)/i,
      /\bblocked (?:using|for abuse)\b/i,
      /(?<!not )\blisted (?:at|in|on|by)\b/i,
      /\bfound (?:on|in) (?:one or more|dns)/i,
      /\bbanned (?:sending )?(?:ip|sender|host|domain)/i,
      /\bdynablock|\bdynamic (?:ip|address|range|pool)|\bdial-?up\b/i,
      /\bsmtp server of your (?:isp|provider)/i,
      /\bmay not be mail exchanger/i,
      /\bspammers?\b/i,
      /\bgeoip\b|\bgeographical location/i,
      /\bbadmailfrom\b|\bdeny ?-?list/i,
      /\bnot (?:in|on) (?:the |our |my )?(?:whitelist|white list|white-list|allowlist|allow list|allow-list)/i,
      // Google's "IP not in whitelist for RCPT domain" as it answers in Chinese, Japanese, Korean.
      /不在[^。.，,]{0,12}(?:白名单|白名單|許可清單|允許清單|允许列表)|ホワイトリストにありません|(?:허용 목록|화이트리스트)에 없/,
      /\(BL\)|\bDNSBL:|AUP#[\w-]*(?:RBL|BL)\b/,
      /\bsperrliste|\bschwarze[rn]? liste|\bliste noire\b|\blista negra\b|\blista nera\b|черн(?:ый|ом) списк|黑名单|ブラックリスト/i,
    ],
  }),
  rule('reputation', 'blocked', {
    text: [
      /\breputation\b/i,
      /\bunwanted (?:messages|mail)/i,
      /\bunsolicited mail originating from|\bunusual rate of unsolicited mail\b/i,
      /\bfrom your ip(?: address)? has been (?:temporarily )?(?:blocked|rejected)/i,
      /\btoo many (?:invalid|unknown|bad|non-?existent) (?:recipients|users|addresses)/i,
      /\bexcessive unknown recipients/i,
      /\bpoor (?:sending )?(?:history|standing)\b|\bsender ?score\b|\bnot in good standing\b|\b(?:ip|address|server|sender) (?:is |has been )?(?:not trusted|untrusted|flagged)\b/i,
      /\bmail from your (?:ip|server|network|host) is not accepted\b|\bsuspicious (?:activity|traffic) from your\b/i,
      // Spam said of the sender (its IP, host or network), not of this message: a reputation
      // block (DESIGN.md: "blocked"), where spam said of the message is spam_content.
      /\b(?:spam|unsolicited (?:e-?)?mail|junk mail) (?:from|originating from|sent from) (?:your|the sending|this) (?:ip|server|host|network|mta)\b/i,
      /\b(?:a |known )?source of (?:unsolicited|bulk|spam|junk)\b/i,
    ],
  }),
  rule('provider-block-codes', 'blocked', {
    text: [
      // Outlook.com (S31xx), Yahoo/AOL ([TSS09], [BL21], permanently deferred), Comcast BL...,
      // Proofpoint's lookup pages, AOL RTR/RLY codes, Outlook SC-/OU-/DY- codes.
      /\(S3\d{3}\)/,
      /\[(?:TSS09|TSS11)\]|\[BL\d\d\]|\bpermanently deferred\b/i,
      /\bBL0\d{5}\b/,
      /proofpoint\.com\/(?:dnsbl|\?ip)|ipcheck\.proofpoint/i,
      /\bRTR:(?:BB|DU|SC|BL)\b|\bRLY:(?:B2|BL|IR)\b|\bCON:B1\b/,
      /\b(?:SC|OU|DY)-00[1-4]\b/,
      /\bnot accepting connections\b/i,
      /\bhost network not allowed\b/i,
      /\bclient host (?:rejected|blocked)\b/i,
      /\bip source bloqu/i,
      /\bnot allowed to connect\b/i,
      /\byour access to (?:submit messages to )?this (?:e-?mail|mail) system/i,
      /\bbad (?:sender )?ip\b|\bbad ip profile\b|\bsender ip address rejected\b|\bip address blocked\b/i,
      /\bnot (?:currently )?accepting mail from your ip\b|\baccess forbidden by your ip\b|\bno access from mail server\b/i,
      /\btoo many spams\b|\bconfirm this mail server\b|\bsuspected bounce attacks?\b|\bconnection denied\b/i,
      /\bip (?:address )?(?:is )?not (?:allowed|authorized|permitted)\b/i,
      /\bblocked senders\b|\benvelope blocked\b|\bbanned sender\b|\bblock policy\b|\byou have been blocked\b/i,
      /\btraffic not accepted from this ip\b|\bclient blocked from sending\b(?! from unregistered)/i,
      // NetEase: the sending IP suspended or not allowed (HL:IHU, HL:IPB, HL:MEP), whatever the
      // reason it gives ("垃圾邮件" included); an IP refused, in Chinese.
      /\bHL:(?:IHU|IPB|MEP)\b/,
      /[Ii][Pp][^。.，,]{0,12}(?:被拒|拒绝|禁止|封禁|屏蔽|挂起)/,
    ],
  }),

  // --- the recipient's account exists but cannot receive (mailbox_disabled) -----------------
  rule('mailbox-disabled', 'mailbox_disabled', {
    text: [
      /(?<!\b(?:ip|sender|sending|from|your|source|client|host|server|domain)\s)\b(?:account|mailbox|mail ?box|inbox|user|recipient|address|addressee|status)\b(?:\s+[\w'@.<>-]+){0,6}?\s+(?:is\s+|has\s+been\s+|was\s+|been\s+)?(?:now\s+|currently\s+|permanently\s+)?(?<!temporar(?:il)?y\s)(?:disabled|deactivated|suspended|inactive|locked|frozen|closed|expired|discontinued|terminated|archived|blocked|cancell?ed)\b/i,
      /\b(?:disabled|deactivated|suspended|inactive|locked|frozen|closed|expired|archived|terminated) (?:e-?mail )?(?:account|mailbox|user|recipient|address)\b/i,
      /\b(?:is|account|mailbox|address) no longer (?:valid|active)\b/i,
      /\bDisabledUser\b/,
      /\brecipient suspend|\bno longer accepts mail\b|\btemporarily inactive\b|\bextended inactivity\b|\bexpired (?:e-?mail )?address\b|\baccount inbounds disabled\b|\bmail receiving disabled\b|\bmailbox (?:is )?frozen\b/i,
      /\b(?:konto|postfach|benutzer|empf(?:ä|ae)nger)\b.{0,30}(?:gesperrt|deaktiviert|stillgelegt|gel(?:ö|oe)scht)/i,
      /\b(?:compte|bo[iî]te|utilisateur)\b.{0,30}(?:d[ée]sactiv|bloqu|suspendu|supprim|archiv)/i,
      /\b(?:cuenta|buz[oó]n|usuario)\b.{0,30}(?:deshabilitad|desactivad|suspendid|bloquead|inactiv)/i,
      /\b(?:conta|caixa postal|usu[aá]rio)\b.{0,30}(?:desativad|desabilitad|bloquead|suspens|inativ)/i,
      /\b(?:casella|utente)\b.{0,30}(?:disattivat|disabilitat|sospes|bloccat)/i,
      /(?:ящик|аккаунт|учетная запись|учётная запись|пользователь|почта)[^.]{0,30}(?:заблокирован|отключен|удал[её]н|неактив|заморожен)/i,
      /(?:帐户|账户|帐号|账号|邮箱|用户)[^。.]{0,10}(?:冻结|停用|禁用|锁定|注销)/,
      /(?:アカウント|メールボックス)[^。.]{0,10}(?:停止|無効|凍結|ロック)/,
    ],
  }),

  // A mailbox holding too many messages, and a message over the remote size limit, are worded
  // like sending limits ("too much mail", "max message size exceeded"): they go first.
  rule('mailbox-count-full', 'mailbox_full', {
    text: [
      /\btoo much mail data\b|\btoo many messages (?:on the server|in (?:the |this )?(?:mailbox|inbox))/i,
      /\bnumber of messages in (?:the )?recipient'?s? mailbox\b/i,
      // Postfix local(8): the mailbox file reached mailbox_size_limit.
      /\bmail(?:box)? file size exceeds\b/i,
    ],
  }),
  rule('message-size-limit', 'message_too_large', {
    text: [/\b(?:max(?:imum)?|inbound) (?:\w+ )?(?:message|mail|e-?mail) size\b/i, /\btaille limite\b/i],
  }),

  // --- the remote side wants us to send less (rate_limited) ---------------------------------
  rule('rate-limited', 'rate_limited', {
    text: [
      /\brate[ -]?limit|\bratelimit/i,
      /\brate that prevents\b/i,
      /\breceiving mail (?:too quickly|at a rate)/i,
      /\btoo (?:quickly|fast)\b/i,
      /\btoo many (?:\w+ )?(?:messages?|mails?|e-?mails|connections?|connects|concurrent|simultaneous|sessions?|recipients|rcpts?|smtp|parallel)\b/i,
      /\btoo much mail\b/i,
      /\bfrequency (?:limit|limited|exceeded)/i,
      /\b(?:relay|submission|daily|hourly|sending|message|recipient|connection|session|outbound)s? (?:limit|quota)s? (?:exceeded|reached)/i,
      /\b(?:relay|sending|submission|outbound) (?:quota|limit)\b/i,
      /\bquota for sending\b/i,
      /\b(?:connection|message|sending|send|recipient|submission)s? rate (?:exceeded|too high)|\brate exceeded\b/i,
      /\bexceed(?:s|ed)? (?:the |your |its )?(?:(?:daily|hourly|sending|send|relay|outbound|message|recipient|connection) )+(?:limit|quota|rate)/i,
      /\bmax(?:imum)? (?:number of )?(?:messages?|connections?|recipients|sessions?|mails?)\b.{0,20}\b(?:per|exceeded|reached)\b/i,
      /\b(?:has )?sent (?:to )?too many\b/i,
      /\bthrottl/i,
      /\bslow down\b/i,
      /\bunexpected volume\b|\bunusual (?:sending )?activity\b/i,
      /\b(?:number|count) of (?:allowed )?(?:outgoing |outbound )?(?:messages|recipients|connections|e-?mails)\b/i,
      // Microsoft's 451 4.7.500-699 "Server busy. Please try again later from [IP]. (ASxxx)" is
      // documented as throttling of the sending IP (guide: source documentation first).
      /\bserver busy\.? please try (?:again )?later from\b/i,
      /\[TSS04\]|\bTSS04\b|\bRL0\d{5}\b|AUP#[\w-]*(?:1310|MXRT|CNCT|RCPT)\b|\bRP-00\d\b|\bDYN:T\d\b|\bRLY:B1\b/,
      /\b(?:connection|thread|receive|message|concurrency|batch|session) limit\b|\bmaximum connection\b|\b(?:emails|messages|mails) per (?:hour|day|minute)\b/i,
      // (Not "spam score exceeded threshold": a score is said of the message.)
      /\btoo many errors\b|\bexcessive volume\b|(?<!score )\bthreshold exceeded\b|(?<!score )\bexceeded (?:\w+ )?threshold\b/i,
      // The Polish providers' platform (Interia, konto.pl) answers its sending limits as "<id>
      // policy violation" (documented by both; corpus README, hostpages.tsv).
      // (The id mixes digits and both cases; after the reply code and status when there is one.)
      /(?:^|\s)(?=[A-Za-z]*\d)(?=\S*[a-z])(?=\S*[A-Z])[A-Za-z0-9]{20,24} policy violation$/,
      /\b(?:daily|hourly) limit\b|\bper hour\b.{0,30}\blimit\b|\bexceeded (?:permitted|their|its|the) limits?\b/i,
      /\b(?:sending|sent|send(?:ing)?) too (?:fast|much|often|many)\b|\btoo often\b|\b(?:sending|connection|delivery) (?:rate|speed|frequency)\b/i,
      /\b(?:rate|speed|frequency) (?:is )?too high\b|\bintervals? (?:is |are )?too short\b|\bper (?:time unit|second)\b|\bconnection (?:count|frequency)\b/i,
      /\bzu viele (?:verbindungen|nachrichten|e-?mails)/i,
      /\btrop de (?:connexions|messages|mails)/i,
      /\bdemasiad[oa]s (?:conexiones|mensajes|correos)/i,
      /\bmuitas (?:conex(?:õ|o)es|mensagens)/i,
      /\btroppe (?:connessioni|email|messaggi)/i,
      /слишком много (?:писем|соединений|подключений|сообщений)/i,
      /(?:发送|发信|投递)频率|频率过快|频率限制/,
      // Counts over a limit, in Chinese: "发件人当天内累计邮件数量超过限制", "连接过于频繁".
      /(?:数量|次数|连接数|并发数?)[^。.，,]{0,6}(?:超过|超出|超限|过多|过大)|过于频繁|太频繁/,
      // NetEase's documented codes for sending counts and connection counts over the limit.
      /\b(?:MI:STC|RP:TRC|RP:QRC|HL:ICC|HL:IFC)\b/,
    ],
  }),

  // --- over quota (mailbox_full) --------------------------------------------------------------
  rule('mailbox-full', 'mailbox_full', {
    text: [
      /\bover ?quota\b/i,
      /\b(?:disk ?|diskspace |mailbox |userdisk |domaindisk |allowed )quota\b|\bover the (?:allowed )?quota\b/i,
      /\bnot (?:enough|sufficient) (?:free |storage |disk )*(?:space|storage)\b|\bdoes not have enough space\b/i,
      /\bmail ?folder is full\b|\bfull mailbox\b|\bspace has been used up\b|\bstorage limit\b/i,
      /\bquota (?:exceeded|exceed|full|reached|violation)/i,
      /\bexceed(?:s|ed)? (?:the |his |her |its |their |user'?s? )?(?:mailbox |storage |disk |account )?quota\b/i,
      /\b(?:mailbox|mail ?box|inbox|storage|disk|box) (?:is )?(?:full|out of (?:storage|space))\b/i,
      /\bmailbox size limit\b/i,
      /\bout of storage\b/i,
      /\bstorage (?:is )?full\b/i,
      /\bdisk quota\b/i,
      /\bexceeded storage allocation\b/i,
      /QuotaExceeded|OverQuota/i,
      /\bmailbox (?:has )?exceeded\b/i,
      /\bover (?:its |the |their )?(?:storage|size|disk) ?(?:limit|quota|allocation)/i,
      /\bexceed(?:s|ed)? (?:\w+ ){0,2}?(?:storage|disk) (?:space|quota|limit|allocation)/i,
      /\b(?:not enough|insufficient|no) (?:free |storage |disk )*space (?:in|on|for) (?:the |this |user'?s? |recipient'?s? )?(?:mailbox|account|inbox)/i,
      /\bexceeds (?:the )?(?:mailbox|storage) (?:size|limit)/i,
      /\b(?:postfach|mailbox|speicher)\b.{0,20}\b(?:voll|(?:ü|ue)berschritten)/i,
      /\b(?:postfach|speicherplatz|mailbox|speicher)\b.{0,30}(?:(?:ü|\bue)berf(?:ü|ue)llt|\bersch(?:ö|oe)pft|nicht (?:gen(?:ü|ue)gend|ausreichend))|\b(?:kein|nicht (?:gen(?:ü|ue)gend|ausreichend)) speicherplatz/i,
      /(?:信箱|收件箱|邮箱|郵箱|信箱|用户|存储|存儲)(?:空间|空間|容量)?(?:已满|已滿|满了|不足|超限)|(?:空间|容量|配额)(?:已满|已滿|已用完|不足)/,
      /메일함.{0,10}(?:가득|용량)|사서함.{0,10}(?:가득|꽉)|용량(?:이)? 초과/,
      /\bskrzynka\b.{0,20}\bpe(?:ł|l)na\b|\bpostvak\b.{0,20}\bvol\b|\bbrevl(?:å|aa)da\b.{0,20}\bfull\b|\bposta kutusu\b.{0,20}\bdolu\b/i,
      /\b(?:quota|kontingent) (?:(?:ü|ue)berschritten|erreicht)/i,
      /\bbo[iî]te\b.{0,30}\bpleine\b|\bquota (?:d[ée]pass[ée]|atteint)/i,
      /\bbuz[oó]n\b.{0,20}\b(?:lleno|completo)\b|\bcuota (?:excedida|superada)/i,
      /\bcaixa\b.{0,25}\bcheia\b|\b(?:cota|quota) excedida\b/i,
      /\bcasella\b.{0,25}\bpiena\b|\bquota superata\b/i,
      /переполнен|превышен\S* (?:квот|лимит|размер ящика)|квота/i,
      /容量超過|(?:メールボックス|容量)[^。.]{0,10}(?:いっぱい|満杯|超過)/,
      /邮箱(?:空间)?(?:已满|满了|容量不足)|空间不足|(?:超出|超过)[^。.]{0,6}(?:容量|配额)/,
    ],
  }),

  // --- a line-length limit is the message's format, not its size (policy; corpus guide P8) ---
  // ("Command line too long" is a command error: the protocol rules decide it.)
  rule('line-too-long', 'policy', {
    text: /\b(?<!command )lines? (?:is |are )?too long\b|\blines too long\b|\bline (?:length|limit)\b/i,
  }),

  // --- over the remote size limit (message_too_large) ----------------------------------------
  rule('message-too-large', 'message_too_large', {
    text: [
      /\b(?:message|mail|email|e-mail)(?: \w+)? (?:size|length)\b.{0,40}\b(?:exceed|limit|too|larger|maximum)/i,
      /\bmessage (?:is )?too long\b/i,
      /\btoo (?:large|big)\b/i,
      /\bsize (?:limit|exceed)/i,
      /\bexceeds? (?:\w+ ){0,3}?size\b/i,
      /\bmax(?:imum)? (?:allowed |permitted )?(?:message |email |mail )?size\b/i,
      /\bdatabytes\b|\bmailsize\b|RecipSizeLimit/i,
      /\bheaders? too (?:large|long|many)/i,
      /\bnumber of attachments\b/i,
      /\blarger than (?:the )?(?:\w+ ){0,2}?(?:limit|maximum|allowed)/i,
      /\bzu gro(?:ß|ss)\b/i,
      /\bmessage trop (?:gros|volumineux)|\btaille\b.{0,30}\b(?:d[ée]pass|maximale)/i,
      /\bmensaje demasiado grande|\btama(?:ñ|n)o\b.{0,20}\b(?:excedido|superado|m[aá]ximo)/i,
      /\bmensagem muito grande|\btamanho\b.{0,20}\b(?:excedido|m[aá]ximo)/i,
      /\bmessaggio troppo grande|\bdimensione\b.{0,20}\b(?:superata|massima)/i,
      /размер (?:письма|сообщения)[^.]{0,20}превыш|слишком (?:большое|большой) (?:письмо|сообщение)/i,
      /邮件(?:大小)?(?:超过|过大)|信件过大|(?:メール)?サイズ[^。.]{0,10}(?:超過|超え)/,
    ],
  }),
]);
