/**
 * The account mails as an interpreter boundary (ASVS 5.0 1.1.2, 1.2.1, 1.2.2, 1.3.7): the templates are
 * code, user values (addresses, passkey names) go in as text — escaped in the HTML part — and the one
 * URL built is the configured client origin plus a URL-encoded token.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  emailChangeNoticeMail,
  mfaChangedMail,
  render,
  verifyEmailMail,
} from '../../../../service/src/components/auth/mail-templates.js';
import { ConfigError, loadConfig } from '../../../../service/src/config/load.js';
import { TEST_JWT_SECRET } from '../../../helpers/app.js';

const HOSTILE = `<script>alert("x")</script><img src=x onerror='y'>&amp;`;

/** The HTML part with every tag the template itself writes taken out: what is left must hold no markup. */
function textOf(html: string): string {
  return html.replace(/<\/?(?:!doctype html|html|body|p|a)(?:\s[^>]*)?>/gi, '');
}

describe('account mails', () => {
  it('escapes HTML in every paragraph, label and link of a mail', () => {
    const mail = render({
      template: 'probe',
      to: 'someone@example.com',
      subject: 'probe',
      paragraphs: [`first ${HOSTILE}`, `second ${HOSTILE}`],
      action: { label: `label ${HOSTILE}`, url: `https://app.example/x?a="b"&c=<d>` },
      notYou: `not you ${HOSTILE}`,
    });
    const rest = textOf(mail.html);
    assert.doesNotMatch(rest, /[<>]/, 'no markup from the values');
    assert.equal((mail.html.match(/<script/gi) ?? []).length, 0);
    assert.equal(
      (rest.match(/&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/g) ?? []).length,
      4,
      'each value kept, as text',
    );
    assert.match(mail.html, /&amp;amp;/, 'an entity in a value is text, not an entity');
    assert.match(
      mail.html,
      /<a href="https:\/\/app\.example\/x\?a=&quot;b&quot;&amp;c=&lt;d&gt;">/,
      'the href cannot be closed early',
    );
    assert.ok(mail.text.includes(HOSTILE), 'the text part carries the value unchanged');

    // Real templates with values a user controls: an address RFC 5322 allows, a passkey name.
    const address = "o'brien&co@example.com";
    for (const real of [
      emailChangeNoticeMail('old@example.com', address, 'https://app.example'),
      mfaChangedMail(address, 'https://app.example', `passkey "${HOSTILE}" added`),
    ]) {
      assert.doesNotMatch(textOf(real.html), /[<>]/);
      assert.ok(real.html.includes('o&#39;brien&amp;co@example.com'));
    }
  });

  it('puts the token into the link URL-encoded, under the configured client origin', () => {
    const token = 'abc+/=?&#"<>';
    const mail = verifyEmailMail('someone@example.com', 'https://app.example', token, 24);
    const url = `https://app.example/verify-email?token=${encodeURIComponent(token)}`;
    assert.ok(mail.text.includes(url), mail.text);
    const parsed = new URL(url);
    assert.equal(parsed.origin, 'https://app.example');
    assert.equal(parsed.searchParams.get('token'), token);
    assert.deepEqual([...parsed.searchParams.keys()], ['token'], 'the token cannot add parameters');
  });

  it('refuses an APP_URL that is not http or https', () => {
    for (const appUrl of [
      'javascript:alert(1)',
      'data:text/html,<script>1</script>',
      'file:///etc/passwd',
      'ftp://app.example',
      'not a url',
    ]) {
      assert.throws(
        () => loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, APP_URL: appUrl }),
        (err) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('APP_URL')),
        appUrl,
      );
    }
    assert.equal(
      loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, APP_URL: 'https://app.example/' }).config.accounts.appUrl,
      'https://app.example',
    );
  });
});
