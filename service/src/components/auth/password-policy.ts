import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary, translations } from '@zxcvbn-ts/language-en';
import { codePoints, firstCodePoints } from '../../platform/text.js';

/**
 * Password acceptance per NIST SP 800-63B §3.1.1.2 (https://pages.nist.gov/800-63-4/sp800-63b.html):
 * a length floor and ceiling counted in Unicode code points after NFKC, never truncation, no composition
 * rules, and rejection of passwords found on a blocklist, derived from context (the account's email, the
 * service's name) or otherwise guessable (zxcvbn score below 3).
 */
/**
 * The longest password accepted, in code points (docs/api.md: PASSWORD_MIN_LENGTH "with a maximum of
 * 128"). Login and password change refuse a longer one before hashing it.
 */
export const MAX_PASSWORD_CODE_POINTS = 128;

export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
}

export interface PasswordFeedback {
  warning: string | null;
  suggestions: string[];
}

export type PasswordCheck = { ok: true; score: number } | { ok: false; feedback: PasswordFeedback };

export interface PasswordCheckerOptions {
  /** Extra passwords to refuse outright (e.g. a breached-password list); matched case-insensitively after NFKC. */
  blocklist?: Iterable<string>;
}

/** zxcvbn score 3: "safely unguessable", about 10^8 guesses or more. */
const MIN_SCORE = 3;
/** NIST SP 800-63B requires at least 8; PASSWORD_MIN_LENGTH cannot go below it either. */
const MIN_ALLOWED_MIN_LENGTH = 8;
/**
 * zxcvbn's matching grows faster than linearly with length, and its l33t matcher multiplies that by the
 * number of de-l33ted variants it tries (default 100). With the defaults a random 128-character password
 * took 600-900 ms on a 2-vCPU machine, all of it blocking the event loop. So only the first 64 code points
 * are scored, with at most 8 l33t variants (the fully substituted one is always tried first; on common l33t
 * passwords the scores matched the default's), which brings a 128-character check to ~35 ms and a
 * 20-character one to ~6 ms. Length is still enforced on the whole password. Scoring a prefix can only
 * underestimate strength: a password whose first 64 code points are guessable is refused however it
 * continues, which errs on the safe side.
 */
const SCORED_CODE_POINTS = 64;
const L33T_MAX_SUBSTITUTIONS = 8;
/** NIST's "context-specific words": the service's name is always one, besides the caller's user inputs. */
export const SERVICE_WORDS: readonly string[] = ['rampart'];
/** Shorter fragments of an email (e.g. "al") occur in too many unrelated words to strip them. */
const MIN_CONTEXT_WORD_LENGTH = 3;

const CONTEXT_SUGGESTION = 'Avoid your email address, your name and the name of this service.';
const FALLBACK_WARNING = 'This password would be easy to guess.';

/** The form in which a password is measured; hash it in the same form so that every spelling verifies. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}


function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * The words a guesser would try first for this account: each input as given, and for an email address its
 * local part, the local part without a +tag, without separators, and each separated piece, and the domain's
 * first label. "alice.smith@example.com" gives alice.smith, alicesmith, alice, smith, example, …
 */
function contextWords(userInputs: string[]): string[] {
  const words = new Set<string>(SERVICE_WORDS);
  for (const input of userInputs) {
    const value = input.normalize('NFKC').toLowerCase().trim();
    const at = value.lastIndexOf('@');
    const local = at === -1 ? value : value.slice(0, at);
    const domainLabel = at === -1 ? '' : (value.slice(at + 1).split('.')[0] ?? '');
    const untagged = local.split('+')[0] ?? '';
    for (const word of [value, local, untagged, untagged.replace(/[._+-]/g, ''), domainLabel, ...local.split(/[._+-]/)]) {
      if (codePoints(word) >= MIN_CONTEXT_WORD_LENGTH) words.add(word);
    }
  }
  // Longest first, so that "alicesmith" is removed whole rather than as "alice" + "smith".
  return [...words].sort((a, b) => b.length - a.length);
}

function failure(warning: string | null, suggestions: string[]): PasswordCheck {
  const unique = [...new Set(suggestions)];
  return {
    ok: false,
    feedback: {
      warning: warning ?? FALLBACK_WARNING,
      suggestions: unique.length > 0 ? unique : [translations.suggestions.anotherWord],
    },
  };
}

/**
 * Builds the checker once: zxcvbn ranks ~170k dictionary words at construction (about 0.1 s), so this
 * belongs in the composition root, not on the request path.
 */
export function createPasswordChecker(
  policy: PasswordPolicy,
  options: PasswordCheckerOptions = {},
): (password: string, userInputs: string[]) => PasswordCheck {
  const { minLength, maxLength } = policy;
  if (!Number.isInteger(minLength) || minLength < MIN_ALLOWED_MIN_LENGTH) {
    throw new RangeError(`password policy: minLength must be an integer of at least ${MIN_ALLOWED_MIN_LENGTH}`);
  }
  if (!Number.isInteger(maxLength) || maxLength < minLength) {
    throw new RangeError('password policy: maxLength must be an integer no smaller than minLength');
  }

  const zxcvbn = new ZxcvbnFactory({
    dictionary: { ...commonDictionary, ...englishDictionary },
    graphs: adjacencyGraphs,
    translations,
    l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
  });
  const blocklist = new Set<string>(commonDictionary['passwords-common']);
  for (const entry of options.blocklist ?? []) blocklist.add(entry.normalize('NFKC').toLowerCase());

  return (password, userInputs) => {
    const normalized = normalizePassword(password);
    // An unpaired surrogate cannot be encoded as UTF-8; hashing would silently turn it into U+FFFD.
    if (/\p{Cs}/u.test(normalized)) {
      return failure('This password contains characters that are not valid text.', ['Retype the password.']);
    }
    const length = codePoints(normalized);
    if (length < minLength) {
      return failure(`This password is shorter than ${minLength} characters.`, [
        `Use at least ${minLength} characters; a few unrelated words are long and easy to remember.`,
      ]);
    }
    if (length > maxLength) {
      return failure(`This password is longer than ${maxLength} characters.`, [`Use at most ${maxLength} characters.`]);
    }
    if (blocklist.has(normalized.toLowerCase())) {
      return failure(translations.warnings.common, [translations.suggestions.useWords]);
    }

    // Strength must come from what is not public: score the password with its context words taken out,
    // so "alicesmith2024!!" for alice.smith@example.com is judged as "2024!!". zxcvbn also gets the words
    // as user inputs, to catch reversed and l33t spellings of them.
    const words = contextWords(userInputs);
    const withoutContext = normalized.replace(new RegExp(words.map(escapeRegExp).join('|'), 'giu'), '');
    const usedContext = withoutContext !== normalized;
    const result = zxcvbn.check(firstCodePoints(withoutContext, SCORED_CODE_POINTS), words);
    if (result.score >= MIN_SCORE) return { ok: true, score: result.score };

    const { warning, suggestions } = result.feedback;
    return usedContext || warning === translations.warnings.userInputs
      ? failure(translations.warnings.userInputs, [CONTEXT_SUGGESTION, ...suggestions])
      : failure(warning, suggestions);
  };
}
