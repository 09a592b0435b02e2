/** The security-header checks (http.ts runs them): the checklist's headers item is all of them. */
export const HEADER_CHECK_IDS = [
  'headers.hsts',
  'headers.csp',
  'headers.x-content-type-options',
  'headers.x-frame-options',
  'headers.referrer-policy',
  'headers.permissions-policy',
  'headers.no-x-powered-by',
] as const;
