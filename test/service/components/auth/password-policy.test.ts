import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createPasswordChecker,
  normalizePassword,
  type PasswordCheck,
  type PasswordFeedback,
} from '../../../../service/src/components/auth/password-policy.js';

// One checker for the whole file, as the composition root builds it: the dictionaries are large.
const check = createPasswordChecker({ minLength: 12, maxLength: 128 });
const ALICE = ['alice.smith@example.com', 'alice.smith'];

function accepted(result: PasswordCheck): number {
  assert.ok(result.ok, `expected acceptance, got: ${result.ok ? '' : JSON.stringify(result.feedback)}`);
  return result.score;
}

function rejected(result: PasswordCheck): PasswordFeedback {
  assert.ok(!result.ok, `expected rejection, got score ${result.ok ? result.score : ''}`);
  return result.feedback;
}

/** 16 distinct printable characters with no dictionary, keyboard or sequence pattern. */
const STRONG_16 = 'kV9#qLm2$wP7zR4!';
/** Unrelated words, the kind of password NIST wants to allow: no digits, symbols or capitals needed. */
const PASSPHRASE = 'velvet quartz lantern thistle orbit saffron harbor ember mosaic canyon';

describe('password length (code points after NFKC, never truncated)', () => {
  it('rejects 11 characters at a minimum of 12 and says the bound', () => {
    const feedback = rejected(check(STRONG_16.slice(0, 11), []));
    assert.match(feedback.warning ?? '', /12 characters/);
    assert.ok(feedback.suggestions.some((s) => s.includes('at least 12')));
  });

  it('accepts 12 strong characters at a minimum of 12', () => {
    assert.ok(accepted(check(STRONG_16.slice(0, 12), [])) >= 3);
  });

  it('follows the configured minimum', () => {
    const strict = createPasswordChecker({ minLength: 16, maxLength: 128 });
    assert.match(rejected(strict(STRONG_16.slice(0, 15), [])).warning ?? '', /16 characters/);
    accepted(strict(STRONG_16, []));
  });

  it('accepts a strong password of exactly 128 characters', () => {
    const password = `${PASSPHRASE} ${PASSPHRASE}`.slice(0, 128);
    assert.equal([...password].length, 128);
    accepted(check(password, ALICE));
  });

  it('rejects 129 characters instead of truncating, and says the bound', () => {
    const password = `${PASSPHRASE} ${PASSPHRASE}`.slice(0, 129);
    assert.equal([...password].length, 129);
    const feedback = rejected(check(password, []));
    assert.match(feedback.warning ?? '', /128 characters/);
    assert.ok(feedback.suggestions.some((s) => s.includes('at most 128')));
  });

  it('counts an emoji as one character, not as two UTF-16 units', () => {
    const emoji = '🦊🐙🌵🎻🧊🚲🪐🍄🦉🎲🧭🪁';
    assert.equal(emoji.length, 24);
    assert.match(rejected(check(emoji.slice(0, 22), [])).warning ?? '', /shorter than 12/); // 11 emoji
    accepted(check(emoji, [])); // 12 emoji
  });

  it('accepts a 128-emoji password, which is 512 bytes of UTF-8', () => {
    const emoji = [...'🦊🐙🌵🎻🧊🚲🪐🍄🦉🎲🧭🪁🦜🪗🧩🛶'];
    const password = Array.from({ length: 128 }, (_, i) => emoji[(i * 7 + Math.floor(i / 16)) % emoji.length]).join('');
    assert.equal(Buffer.byteLength(password), 512);
    accepted(check(password, []));
    assert.match(rejected(check(`${password}🦊`, [])).warning ?? '', /longer than 128/);
  });

  it('counts after NFKC, so a decomposed accent is one character', () => {
    const decomposed = 'Zq7#vR2!mKe\u0301'; // 12 code points as typed, 11 once "é" is composed
    assert.equal([...decomposed].length, 12);
    assert.equal([...normalizePassword(decomposed)].length, 11);
    assert.match(rejected(check(decomposed, [])).warning ?? '', /shorter than 12/);
  });

  it('accepts non-Latin scripts and needs no digits, symbols or capitals', () => {
    accepted(check('горный ветер несёт снег', []));
    accepted(check('velvet quartz lantern', []));
  });

  it('rejects a lone surrogate, which cannot be stored as UTF-8', () => {
    rejected(check(`${STRONG_16}\uD800`, []));
  });
});

describe('blocklisted and guessable passwords', () => {
  for (const password of ['password1234', 'qwertyuiop12', 'Password1234', '123456789012', 'ｐａｓｓｗｏｒｄ１２３４']) {
    it(`rejects the common password ${password}`, () => {
      assert.equal(rejected(check(password, [])).warning, 'This is a commonly used password.');
    });
  }

  it('rejects l33t spellings and predictable patterns of common passwords', () => {
    for (const password of ['P@ssw0rd1234!', 'Adm1n1strat0r!', 'aaaaaaaaaaaa', 'abcdefghijklmnop', '1qaz2wsx3edc4rfv']) {
      rejected(check(password, []));
    }
  });

  it('rejects entries of an extra blocklist, case-insensitively', () => {
    const withList = createPasswordChecker({ minLength: 12, maxLength: 128 }, { blocklist: ['kV9#qLm2$wP7zR4!'] });
    accepted(check(STRONG_16, []));
    rejected(withList(STRONG_16, []));
    rejected(withList(STRONG_16.toUpperCase(), []));
  });
});

describe('passwords derived from the account or the service', () => {
  it('rejects alicesmith2024!! for alice.smith@example.com', () => {
    const feedback = rejected(check('alicesmith2024!!', ALICE));
    assert.equal(feedback.warning, 'There should not be any personal or page related data.');
    assert.ok(feedback.suggestions.some((s) => /email address/.test(s)));
  });

  it('rejects a password built from the email that passes for someone else', () => {
    accepted(check('smith.alice.99!', ['bob.jones@example.com']));
    rejected(check('smith.alice.99!', ALICE));
  });

  it('derives the local part from the email alone', () => {
    rejected(check('AliceSmith2024!', ['alice.smith@example.com']));
  });

  it('rejects the email address itself and its l33t spelling', () => {
    rejected(check('alice.smith@example.com', ALICE));
    rejected(check('@l1c3sm1th2024', ALICE));
  });

  it("rejects passwords built on the service's name", () => {
    rejected(check('Rampart2024!!', []));
  });

  it('takes context words literally: regular-expression characters in an address neither break the check nor match other text', () => {
    // Unescaped, "a{" and "x(y" would not compile, and "j.*" or "q|z" would strip letters that are not the address's.
    for (const address of ['a{b.c@example.com', 'x(y@example.com', 'j.*k@example.com', 'q|z+tag@example.com', 'r$^s?@example.com']) {
      accepted(check(PASSPHRASE, [address]));
      accepted(check(STRONG_16, [address]));
    }
    rejected(check('q|z2024!!', ['q|z+tag@example.com']));
    rejected(check('j.*k!2024', ['j.*k@example.com']));
  });

  it('still accepts a strong passphrase that happens to contain the name', () => {
    accepted(check('alice velvet quartz lantern thistle', ALICE));
  });
});

describe('feedback', () => {
  const weak = [
    'short',
    '',
    'password1234',
    'alicesmith2024!!',
    'aaaaaaaaaaaa',
    'x'.repeat(129),
    'abcdefghijklmnop',
    'Rampart2024!!',
  ];
  for (const password of weak) {
    it(`gives a warning and at least one suggestion for ${JSON.stringify(password.slice(0, 20))}`, () => {
      const feedback = rejected(check(password, ALICE));
      assert.equal(typeof feedback.warning, 'string');
      assert.ok((feedback.warning ?? '').length > 0);
      assert.ok(feedback.suggestions.length >= 1);
      for (const suggestion of feedback.suggestions) assert.ok(suggestion.length > 0);
      assert.equal(new Set(feedback.suggestions).size, feedback.suggestions.length);
    });
  }

  it("passes zxcvbn's English warnings and suggestions through", () => {
    const feedback = rejected(check('aaaaaaaaaaaa', []));
    assert.equal(feedback.warning, 'Repeated characters like "aaa" are easy to guess.');
    assert.ok(feedback.suggestions.includes('Avoid repeated words and characters.'));
  });

  it('never echoes the password', () => {
    const password = 'alicesmith2024!!';
    const feedback = rejected(check(password, ALICE));
    assert.ok(!JSON.stringify(feedback).includes(password));
  });
});

describe('policy', () => {
  it('refuses a minimum below the NIST floor of 8', () => {
    assert.throws(() => createPasswordChecker({ minLength: 7, maxLength: 128 }), RangeError);
  });

  it('refuses a maximum below the minimum or a non-integer bound', () => {
    assert.throws(() => createPasswordChecker({ minLength: 12, maxLength: 11 }), RangeError);
    assert.throws(() => createPasswordChecker({ minLength: 12.5, maxLength: 128 }), RangeError);
  });
});
