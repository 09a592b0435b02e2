import type { MailMessage } from '../../mail/index.js';
import { render } from '../mail-templates.js';

/** docs/api.md, security notices: a second factor bound or removed is told to the account's address. */
export function passkeyAddedMail(to: string, name: string, appUrl: string): MailMessage {
  return render({
    template: 'passkey_added',
    to,
    subject: 'A passkey was added to your account',
    paragraphs: [`A passkey named "${name}" was added to the Rampart account ${to}. It can now be used to sign in.`],
    notYou: `If this was not you, sign in at ${appUrl}, remove the passkey, and reset your password: whoever added it was signed in as you.`,
  });
}

export function passkeyRemovedMail(to: string, name: string, appUrl: string): MailMessage {
  return render({
    template: 'passkey_removed',
    to,
    subject: 'A passkey was removed from your account',
    paragraphs: [`The passkey named "${name}" was removed from the Rampart account ${to}. It can no longer be used to sign in.`],
    notYou: `If this was not you, reset your password now at ${appUrl}/reset-password and check your account's sessions.`,
  });
}
