/**
 * Text rules that yield to a confident learned model (rule id → least probability of the
 * model's disagreeing answer), beside the rules that name their own `yieldsTo` (rules.ts
 * WEAK_RULES). A rule is written from the development rows; on a reply worded as its author
 * never saw, its pattern can match words that mean something else ("spam" of a blocklist,
 * "try again later" of a rate limit), where the model, reading every word and the codes, is
 * right more often when it is confident.
 *
 * Chosen by 5-fold CV on development rows (bench/classify-cv.mjs --regimes --disagreements, every
 * text rule yielding at 0.9, then per rule): the rules whose overrides gained three or more rows
 * net over the whole-table and both half-table regimes; then their threshold, 0.8 (0.95, 0.9 and
 * 0.8 gave 89.0, 89.1 and 89.2 % in half-table draw a, 89.0, 89.2, 89.3 in draw b). Not every such rule: each check scores the
 * reply with the model, which costs more than the rest of classify(), so rules that answer many
 * everyday replies for a small gain (blocklisted, user-unknown: +4 each, 104 of the speed
 * benchmark's 408 replies) stay firm for the stream path's speed floor (bench/RESULTS.md, issue
 * 18, session 12).
 */
export const MODEL_OVERRIDES: Readonly<Record<string, number>> = Object.freeze({
  'spam-content': 0.8,
  'rate-limited': 0.8,
  'temporary-wording': 0.8,
  'dns-trouble': 0.8,
  'message-too-large': 0.8,
  'remote-misconfigured': 0.8,
  'try-later': 0.8,
});
