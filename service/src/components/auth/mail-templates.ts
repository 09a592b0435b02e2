import type { MailMessage } from '../mail/index.js';

/**
 * The account mails: plain text and HTML, nothing remote (no images, fonts or tracking), one link at
 * most — to the client application, never to the API — and in every mail what to do if it was not you.
 * Links carry the token in the query string of the *client's* page, which POSTs it: no GET on the API
 * consumes a token, so a mail scanner that follows links burns nothing.
 */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export interface Body {
  template: string;
  to: string;
  subject: string;
  /** Paragraphs, plain text. */
  paragraphs: string[];
  action?: { label: string; url: string };
  notYou: string;
}

/** A mail from its parts: plain text and the same as escaped HTML (also for the passkey notices, webauthn/passkey-mails.ts). */
export function render(body: Body): MailMessage {
  const text = [
    ...body.paragraphs,
    ...(body.action ? [`${body.action.label}:\n${body.action.url}`] : []),
    body.notYou,
    '— Rampart',
  ].join('\n\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">',
    ...body.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    ...(body.action
      ? [`<p><a href="${escapeHtml(body.action.url)}">${escapeHtml(body.action.label)}</a></p>`, `<p style="font-size:smaller">${escapeHtml(body.action.url)}</p>`]
      : []),
    `<p>${escapeHtml(body.notYou)}</p>`,
    '<p>— Rampart</p>',
    '</body></html>',
  ].join('\n');
  return { template: body.template, to: body.to, subject: body.subject, text, html };
}

const link = (appUrl: string, page: string, token: string) => `${appUrl}/${page}?token=${encodeURIComponent(token)}`;

export function verifyEmailMail(to: string, appUrl: string, token: string, ttlHours: number): MailMessage {
  return render({
    template: 'verify_email',
    to,
    subject: 'Confirm your email address',
    paragraphs: [`Confirm that ${to} is your address to finish setting up your Rampart account. The link works once, for ${ttlHours} hours.`],
    action: { label: 'Confirm my address', url: link(appUrl, 'verify-email', token) },
    notYou: 'If you did not sign up, ignore this mail: no account is activated without this confirmation.',
  });
}

export function accountExistsMail(to: string, appUrl: string): MailMessage {
  return render({
    template: 'account_exists',
    to,
    subject: 'You already have an account',
    paragraphs: [`Someone — probably you — tried to sign up with ${to}, but an account with this address already exists. Sign in instead, or reset your password if you forgot it.`],
    action: { label: 'Reset my password', url: `${appUrl}/reset-password` },
    notYou: 'If it was not you, ignore this mail: nothing changed on your account.',
  });
}

export function passwordResetMail(to: string, appUrl: string, token: string, ttlMinutes: number): MailMessage {
  return render({
    template: 'reset_password',
    to,
    subject: 'Reset your password',
    paragraphs: [`A password reset was asked for the Rampart account ${to}. The link works once, for ${ttlMinutes} minutes; setting a new password signs out every device.`],
    action: { label: 'Choose a new password', url: link(appUrl, 'reset-password', token) },
    notYou: 'If you did not ask for this, ignore this mail: your password stays as it is.',
  });
}

export function passwordChangedMail(to: string, appUrl: string): MailMessage {
  return render({
    template: 'password_changed',
    to,
    subject: 'Your password was changed',
    paragraphs: [`The password of the Rampart account ${to} was just changed, and every other device was signed out.`],
    notYou: `If this was not you, reset your password now at ${appUrl}/reset-password and check your account's sessions.`,
  });
}

export function emailChangeConfirmMail(to: string, appUrl: string, token: string, ttlHours: number): MailMessage {
  return render({
    template: 'change_email',
    to,
    subject: 'Confirm your new email address',
    paragraphs: [`Confirm that ${to} should become the address of your Rampart account. The link works once, for ${ttlHours} hours.`],
    action: { label: 'Use this address', url: link(appUrl, 'confirm-email', token) },
    notYou: 'If you did not ask for this, ignore this mail: the account keeps its current address.',
  });
}

export function emailChangeNoticeMail(to: string, newAddress: string, appUrl: string): MailMessage {
  return render({
    template: 'change_email_notice',
    to,
    subject: 'A change of your email address was requested',
    paragraphs: [`Someone signed in to your Rampart account asked to change its address from ${to} to ${newAddress}. It changes only once the new address is confirmed.`],
    notYou: `If this was not you, reset your password now at ${appUrl}/reset-password: whoever asked knows it.`,
  });
}

export function emailTakenMail(to: string, appUrl: string): MailMessage {
  return render({
    template: 'change_email_taken',
    to,
    subject: 'This address already has an account',
    paragraphs: [`Someone asked to move another Rampart account to ${to}, but this address already has an account, so nothing changed.`],
    notYou: `If you forgot your password, reset it at ${appUrl}/reset-password.`,
  });
}

export function accountDeletedMail(to: string): MailMessage {
  return render({
    template: 'account_deleted',
    to,
    subject: 'Your account was deleted',
    paragraphs: [`The Rampart account ${to} and its conversations were deleted, and every device was signed out.`],
    notYou: 'If this was not you, your password was known to someone else: the data is gone, but use a new password wherever you used that one.',
  });
}

/** A second factor was added, removed, reset or a recovery code spent (NIST SP 800-63B-4: notify on binding). */
export function mfaChangedMail(to: string, appUrl: string, what: string): MailMessage {
  return render({
    template: 'mfa_changed',
    to,
    subject: 'Your sign-in settings changed',
    paragraphs: [`On the Rampart account ${to}: ${what}.`],
    notYou: `If this was not you, reset your password now at ${appUrl}/reset-password and review your second factors and sessions.`,
  });
}
