// The mail outbox writer: a mail written in the caller's transaction, delivered by the service's sender (no transport).
export { createOutboxWriter, type MailEnqueuer, type MailMessage } from '../components/mail/public.js';
