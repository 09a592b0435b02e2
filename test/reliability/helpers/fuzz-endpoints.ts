import fc from 'fast-check';
import type { EndpointSpec } from './fuzz-harness.js';
import { hostileString, plausibleEmail, plausiblePassword } from './fuzz-inputs.js';

/** Every JSON endpoint of docs/api.md, as the fuzz suite sees it. */
const credentials = fc.record({ email: plausibleEmail, password: plausiblePassword });
const refresh = fc.record({
  refresh_token: fc.oneof(hostileString, fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url'))),
});

export const signup: EndpointSpec = { name: 'signup', method: 'POST', path: '/v1/auth/signup', authenticated: false, fields: ['email', 'password'], plausible: credentials };
export const login: EndpointSpec = { name: 'login', method: 'POST', path: '/v1/auth/login', authenticated: false, fields: ['email', 'password'], plausible: credentials };
export const password: EndpointSpec = {
  name: 'password',
  method: 'POST',
  path: '/v1/auth/password',
  authenticated: true,
  fields: ['current_password', 'new_password'],
  plausible: fc.record({ current_password: plausiblePassword, new_password: plausiblePassword }),
  onSuccess: (actor, body) => {
    // 204: the password is now the new one (the last duplicate key wins, as in the parser).
    const sent = JSON.parse(body?.toString('utf8') ?? '{}');
    if (typeof sent.new_password === 'string') actor.password = sent.new_password;
  },
};
export const refreshToken: EndpointSpec = { name: 'refresh', method: 'POST', path: '/v1/auth/refresh', authenticated: false, fields: ['refresh_token'], plausible: refresh };
export const logout: EndpointSpec = { name: 'logout', method: 'POST', path: '/v1/auth/logout', authenticated: false, fields: ['refresh_token'], plausible: refresh };
export const logoutAll: EndpointSpec = { name: 'logout-all', method: 'POST', path: '/v1/auth/logout-all', authenticated: true, fields: [], revokesOwnSession: true };
export const sessionsList: EndpointSpec = { name: 'sessions-list', method: 'GET', path: '/v1/auth/sessions', authenticated: true, fields: [], query: true };
export const sessionsDelete: EndpointSpec = { name: 'sessions-delete', method: 'DELETE', path: '/v1/auth/sessions/{id}', ids: 'session', authenticated: true, fields: [], revokesOwnSession: true };
export const me: EndpointSpec = { name: 'me', method: 'GET', path: '/v1/me', authenticated: true, fields: [], query: true };

const title = fc.record({ title: fc.oneof(fc.constant('a title'), fc.constant(null), hostileString) }, { requiredKeys: [] });
const content = fc.record({ content: fc.oneof(fc.constant('hello there'), hostileString) });

export const conversationsCreate: EndpointSpec = { name: 'conversations-create', method: 'POST', path: '/v1/conversations', authenticated: true, fields: ['title'], plausible: title };
export const conversationsList: EndpointSpec = { name: 'conversations-list', method: 'GET', path: '/v1/conversations', authenticated: true, fields: [], query: true };
export const conversationsGet: EndpointSpec = { name: 'conversations-get', method: 'GET', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] };
export const conversationsDelete: EndpointSpec = { name: 'conversations-delete', method: 'DELETE', path: '/v1/conversations/{id}', ids: 'conversation', authenticated: true, fields: [] };
export const messagesList: EndpointSpec = { name: 'messages-list', method: 'GET', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: [], query: true };
export const messagesCreate: EndpointSpec = { name: 'messages-create', method: 'POST', path: '/v1/conversations/{id}/messages', ids: 'conversation', authenticated: true, fields: ['content'], plausible: content };
