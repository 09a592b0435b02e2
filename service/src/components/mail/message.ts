/** A rendered mail, as a flow hands it to the outbox: plain text and HTML, no remote content. */
export interface MailMessage {
  /** Which template rendered it (metrics and audit; never the content). */
  readonly template: string;
  /** One normalized address. */
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** What caused a mail: the request and the account, recorded with it for the audit trail of its delivery. */
export interface MailOrigin {
  readonly requestId?: string;
  readonly userId?: string;
}

/** A mail as the sender hands it to a transport. */
export interface OutgoingMail extends MailMessage {
  readonly from: string;
  /** Stable per outbox row: a resend after a crash carries the same Message-ID. */
  readonly messageId: string;
}
