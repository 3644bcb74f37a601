import { rule, type BounceRule } from './rule-types.js';

/**
 * Everyday wordings of the common bounce meanings in German, French, Spanish, Italian,
 * Portuguese, Dutch, Russian, Chinese, Japanese and Korean: how mail servers and providers'
 * help pages phrase a full mailbox, an unknown or disabled recipient, a blocked IP, a rate
 * limit, spam, an oversized message and a passing failure. Written from the languages (the
 * words a native reply uses, in their usual inflections), not from corpus rows, so that a
 * provider's reply in one of these languages does not fall through to the code rules (`other`
 * for 5xx, `temporary` for 4xx, which also gets permanence wrong for a full mailbox or an
 * unknown user). The English rules already carry some of these wordings; these come before
 * them, and their order inside the family goes from the most specific meaning (an IP block
 * that mentions spam is a block) to the least.
 *
 * Patterns avoid `\b` next to non-ASCII letters (without the u flag `\b` sees only ASCII word
 * characters), and each has a literal the prefilter can look for that English replies rarely
 * contain (not "mailbox" or "ip", which would run the pattern on most replies; hence `[Ii][Pp]`).
 */
export const MULTILINGUAL_RULES: readonly BounceRule[] = Object.freeze([
  // The sending IP is blocked or listed: a block, whatever else the reply says (spam, abuse).
  rule('ml-ip-blocked', 'blocked', {
    text: [
      /\bip(?:-adresse| address)?\b.{0,25}(?:gesperrt|blockiert|sperrliste|schwarze[rn]? liste)/i,
      /\b(?:adresse )?ip\b.{0,25}(?:bloqu|bannie|liste noire)/i,
      /\b(?:direcci[oó]n )?ip\b.{0,25}(?:bloquead|lista negra|bloccat|lista nera)/i,
      /\b(?:endere[cç]o )?ip\b.{0,25}(?:bloquead|lista negra|bloqueio)/i,
      /\bip(?:-adres)?\b.{0,25}(?:geblokkeerd|zwarte lijst)/i,
      /(?:IP|ip)[^.]{0,25}(?:заблокирован|черн(?:ом|ый) списк|в списке блокир)/,
      /[Ii][Pp][^。.]{0,40}(?:黑名单|被封|封禁|拦截|屏蔽|封锁|封鎖|ブロック|拒否|차단)|(?:屏蔽|封锁|封鎖|封禁)[^。.]{0,12}[Ii][Pp]|黑名单|차단된 [Ii][Pp]/,
    ],
  }),
  // Rate limits: too many connections, messages or recipients, a sending quota, mail arriving
  // too fast.
  rule('ml-rate-limited', 'rate_limited', {
    text: [
      /\b(?:zu (?:schnell|rasch)|muito r(?:á|a)pid|demasiado r(?:á|a)pid|trop (?:rapidement|vite)|troppo (?:velocemente|rapidamente)|te snel)/i,
      /слишком (?:быстро|часто)|速いペース|过快|过于频繁|너무 빠르/,
      /\bzu viele (?:verbindungen|nachrichten|e-mails|mails|empf(?:ä|ae)nger)|\bsende(?:kontingent|limit)/i,
      /\btrop de (?:connexions|messages|courriels|mails|destinataires)|\bquota d'envoi/i,
      /\bdemasiad[oa]s (?:conexiones|mensajes|correos|destinatarios)|\bcuota de env[ií]o/i,
      /\btroppe connessioni|\btroppi (?:messaggi|destinatari)/i,
      /\bmuit[oa]s (?:conex(?:õ|o)es|mensagens|destinat(?:á|a)rios)|\blimite de envio/i,
      /\bte veel (?:verbindingen|berichten|ontvangers)|\bverzendlimiet/i,
      /слишком много (?:соединений|подключений|писем|сообщений|получателей)|превышен[^.]{0,10}лимит отправки/i,
      /连接数过多|连接过多|中继量|发送量超|发信量超|发送数量超|发信量超|送信数[^。.]{0,6}上限|送信制限|발송량|발송 제한|전송량 제한/,
    ],
  }),
  // Spam or a virus in the message.
  rule('ml-spam', 'spam_content', {
    text: [
      /\bals spam (?:eingestuft|erkannt|markiert|bewertet)|\bvirus gefunden|\bspamverdacht/i,
      /\b(?:consid[ée]r[ée]|identifi[ée]|d[ée]tect[ée]) comme (?:un )?spam|\bvirus a [ée]t[ée] d[ée]tect[ée]/i,
      /\b(?:identificado|considerado|detectado|marcado) como spam|\bconsiderat[oa] spam|\bconsiderad[oa] spam/i,
      /\bals spam (?:is )?(?:aangemerkt|herkend|gemarkeerd)/i,
      /(?:отклонено|распознано|определено|помечено) как спам|содержит вирус/i,
      /识别为垃圾|判定为垃圾|病毒|迷惑メール|スパムと判定|ウイルス|스팸으로|바이러스/,
    ],
  }),
  // A full mailbox or an exceeded storage quota.
  rule('ml-mailbox-full', 'mailbox_full', {
    text: [
      /\b(?:postfach|speicherplatz)\b.{0,40}(?:voll\b|(?:ü|ue)berschritten|ersch(?:ö|oe)pft|maximale gr(?:ö|oe)(?:ß|ss)e)|\bmailbox(?: ist)? voll\b/i,
      /\b(?:bo[iî]te|espace de stockage)\b.{0,40}(?:pleine|insuffisant|satur)/i,
      /\bbuz[oó]n\b.{0,40}\b(?:lleno|completo)\b|\bespacio insuficiente\b.{0,20}\bbuz[oó]n/i,
      /\bcasella\b.{0,40}\bpiena\b|\bspazio esaurito\b/i,
      /\bcaixa\b.{0,40}\b(?:cheia|lotada)\b/i,
      /\b(?:postvak|brievenbus)\b.{0,40}\bvol\b|\bmailbox(?: is)? vol\b|\bquot(?:um|a) overschreden\b/i,
      /недостаточно места[^.]{0,20}ящик|ящик[^.]{0,20}(?:переполнен|заполнен)/i,
      /容量オーバー|容量を超え|容量超過|メールボックス[^。.]{0,10}(?:いっぱい|満杯)|信箱已满|邮箱[^。.]{0,6}(?:已满|容量超限)|메일함[^.]{0,10}(?:가득|용량)|용량 초과/,
    ],
  }),
  // A disabled, suspended or dormant account.
  rule('ml-mailbox-disabled', 'mailbox_disabled', {
    text: [
      /\b(?:postfach|konto|account)\b.{0,30}\b(?:deaktiviert|gesperrt|stillgelegt)/i,
      /\b(?:compte|bo[iî]te(?: aux lettres)?)\b.{0,30}\b(?:d[ée]sactiv|suspendu|bloqu)/i,
      /\bcuenta\b.{0,30}\b(?:deshabilitad|desactivad|suspendid|bloquead)/i,
      /\b(?:casella|account)\b.{0,30}\b(?:disattivat|sospes|bloccat)/i,
      /\bconta\b.{0,30}\b(?:desativad|suspens|bloquead)/i,
      /\baccount\b.{0,30}\b(?:gedeactiveerd|opgeschort|geblokkeerd)/i,
      /(?:ящик|учетная запись|учётная запись|аккаунт)[^.]{0,20}(?:заблокирован|отключен|отключён|приостановлен)/i,
      /(?:帐号|账号|帐户|账户|邮箱)[^。.]{0,8}(?:冻结|停用|禁用|注销)|アカウント[^。.]{0,10}(?:停止|無効)|휴면|정지된 계정|비활성/,
    ],
  }),
  // The recipient does not exist.
  rule('ml-user-unknown', 'user_unknown', {
    text: [
      /\bempf(?:ä|ae)nger(?:adresse)?\b.{0,20}\b(?:ung(?:ü|ue)ltig|nicht gefunden)|\bkein postfach\b|\bunbekannte adresse/i,
      /\bdestinataire introuvable\b|\badresse introuvable\b|\butilisateur introuvable\b/i,
      /\b(?:destinatario|usuario|direcci[oó]n) no (?:encontrad|v[aá]lid)|\bdestinatario non (?:trovato|valido)|\butente non (?:trovato|valido)/i,
      /\bendere(?:ç|c)o inexistente\b|\bdestinat(?:á|a)rio n(?:ã|a)o encontrado\b|\busu(?:á|a)rio n(?:ã|a)o encontrado\b/i,
      /\bonbekende (?:gebruiker|ontvanger)\b|\b(?:gebruiker|ontvanger) onbekend\b|\bbestaat niet\b/i,
      /(?:адрес|получател|пользовател)[^.]{0,25}(?:не существует|не найден)/i,
      /該当するユーザー|ユーザーがいません|존재하지 않는|수신자를 찾을 수 없|없는 (?:메일 )?(?:주소|계정|사용자)/,
    ],
  }),
  // Over the remote size limit.
  rule('ml-message-too-large', 'message_too_large', {
    text: [
      /\bnachricht\b.{0,20}\bzu gro(?:ß|ss)|\bmessage\b.{0,20}\btrop (?:volumineux|gros|grand)/i,
      /\bmensaje\b.{0,20}\bdemasiado grande|\bmessaggio\b.{0,20}\btroppo grande|\bmensagem\b.{0,20}\bmuito grande/i,
      /\bbericht\b.{0,20}\bte groot\b|слишком больш(?:ое|ой) (?:письмо|сообщение|размер)/i,
      /(?:邮件|郵件)[^。.]{0,6}(?:大小|尺寸)[^。.]{0,4}超|サイズが大きすぎ|크기가 너무|크기 제한/,
    ],
  }),
  // The sender address refused (not blocked): DESIGN.md's "sender rejected" is policy.
  rule('ml-sender-refused', 'policy', {
    text: [
      /\babsender(?:adresse)?\b.{0,20}\b(?:abgelehnt|zur(?:ü|ue)ckgewiesen|ung(?:ü|ue)ltig)/i,
      /\bexp[ée]diteur\b.{0,20}\b(?:refus|rejet|invalide)|\bremitente\b.{0,20}\b(?:rechazad|no v[aá]lid)/i,
      /\bmittente\b.{0,20}\b(?:rifiutat|non valid)|\bremetente\b.{0,20}\b(?:rejeitad|recusad|inv[aá]lid)|\bafzender\b.{0,20}\b(?:geweigerd|ongeldig)/i,
      /отправител[ья][^.]{0,20}(?:отклон|отказ|недопустим)|发件人[^。.]{0,8}(?:被拒绝|不合法|无效)|送信者[^。.]{0,8}(?:拒否|無効)|발신자[^.]{0,8}(?:거부|유효하지)/,
    ],
  }),
  // Relaying refused.
  rule('ml-relay-denied', 'policy', {
    text: /\brelaying nicht erlaubt|\brelais non autoris|\bretransmisi[oó]n no permitida|\brelay non consentito|\brelay n(?:ã|a)o permitido/i,
  }),
]);

/**
 * A passing failure ("try again later") in the same languages: consulted after the English
 * rules, so that a bilingual reply's more specific English meaning wins.
 */
export const MULTILINGUAL_LATE_RULES: readonly BounceRule[] = Object.freeze([
  rule('ml-try-later', 'temporary', {
    text: [
      /\bsp(?:ä|ae)ter (?:erneut|nochmal|noch einmal)|\bvor(?:ü|ue)bergehende[rn]? fehler/i,
      /\br[ée]essayez plus tard|\berreur temporaire\b/i,
      /\bint[ée]ntelo (?:de nuevo )?m[aá]s tarde|\berror temporal\b|\briprova(?:re)? pi(?:ù|u) tardi|\berrore temporaneo\b/i,
      /\btente novamente mais tarde|\berro tempor(?:á|a)rio\b|\bprobeer het later opnieuw|\btijdelijke fout\b/i,
      /попробуйте (?:позже|ещё раз позже|еще раз позже)|временная ошибка/i,
      /稍后重试|稍后再试|系统繁忙|一時的な|しばらくしてから|일시적인|잠시 후 다시/,
    ],
  }),
]);
