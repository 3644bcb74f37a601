import t from 'tap';
import { modelFeatures, textFeatures } from '../../src/classify/features.js';

t.test('features: words and word pairs, lower-cased, numbers and identifiers left out', async (t) => {
  t.same(textFeatures('550 5.1.1 User Unknown'), ['user', 'unknown', 'user unknown']);
  t.same(textFeatures('Mailbox  full; mailbox full'), ['mailbox', 'full', 'mailbox full', 'full mailbox']);
  // Scripts without spaces are read as character pairs.
  t.same(textFeatures('邮箱已满'), ['邮箱', '箱已', '已满', '邮箱 箱已', '箱已 已满']);
  t.same(textFeatures('id 1a2b3c4 x'), ['id'], 'mostly digits: an identifier');
});

t.test('word stems: the first letters of each longer word, marked ~, when asked for', async (t) => {
  t.same(textFeatures('Recipient rejected', 5), ['recipient', 'rejected', 'recipient rejected', '~recip', '~rejec']);
  t.same(textFeatures('user full', 5), ['user', 'full', 'user full'], 'words of five letters or fewer have no stem');
  t.same(textFeatures('Überschritten', 5), ['überschritten', '~übers'], 'non-ASCII words are lower-cased first');
  t.same(modelFeatures('Mailboxes', 0, '', 5), ['mailboxes', '~mailb']);
  t.same(textFeatures('rejected rejecting rejected', 5), ['rejected', 'rejecting', 'rejected rejecting', 'rejecting rejected', '~rejec', '~rejec'],
    'a stem counts once per distinct word that has it');
});

t.test('letter triples: each word with a space at either end, three letters at a time, marked %', async (t) => {
  t.same(textFeatures('Mail box', 0, true), ['mail', 'box', 'mail box', '% ma', '%mai', '%ail', '%il ', '% bo', '%box', '%ox ']);
  t.same(textFeatures('ok ok', 0, true), ['ok', 'ok ok', '% ok', '%ok '], 'a repeated word: its triples once');
  t.same(textFeatures('no on', 0, true).filter((f) => f.startsWith('%')), ['% no', '%no ', '% on', '%on '], 'each distinct word its own triples');
  t.same(textFeatures('box boxes', 0, true).filter((f) => f === '%box'), ['%box', '%box'], 'a triple shared by two words counts for both');
  t.same(textFeatures('Überfüllt', 0, true).filter((f) => f.startsWith('%')).slice(0, 2), ['% üb', '%übe'], 'non-ASCII words are lower-cased first');
  t.same(textFeatures('邮箱已满', 0, true), textFeatures('邮箱已满'), 'scripts without spaces keep their character pairs only');
});

t.test('model features: the codes join the words as features of their own', async (t) => {
  t.same(modelFeatures('550 5.1.1 User Unknown', 550, '5.1.1'), ['user', 'unknown', 'user unknown', '#5', '#550', '#5.1.1', '#5.1']);
  t.same(modelFeatures('mailbox full', 0, ''), ['mailbox', 'full', 'mailbox full'], 'no code, no code feature');
  t.same(modelFeatures('quota', 450, '4.2.2'), ['quota', '#4', '#450', '#4.2.2', '#4.2']);
  t.same(modelFeatures('quota', 550, ''), ['quota', '#5', '#550']);
});
