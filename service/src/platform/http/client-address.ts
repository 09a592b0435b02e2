import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

export interface ClientAddress {
  ip: string;
  protocol: 'http' | 'https';
  /** true when `protocol` is a trusted proxy's X-Forwarded-Proto, not the connection's own. */
  protocolForwarded: boolean;
}

/**
 * Resolves the client's address and protocol honouring X-Forwarded-For/-Proto only from peers in
 * the trusted CIDR list (TRUSTED_PROXIES). With an empty list every forwarded header is ignored,
 * so a client cannot choose its own rate-limit key by sending X-Forwarded-For.
 */
export function createClientAddressResolver(trustedProxies: readonly string[]) {
  const trust = proxyAddr.compile([...trustedProxies]);
  const trustNone = trustedProxies.length === 0;
  return function resolve(req: IncomingMessage): ClientAddress {
    const peer = req.socket.remoteAddress ?? '';
    const ip = trustNone ? peer : proxyAddr(req, trust);
    let protocol: ClientAddress['protocol'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    let protocolForwarded = false;
    if (!trustNone && peer && trust(peer, 0)) {
      const forwarded = req.headers['x-forwarded-proto'];
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
      if (first === 'https' || first === 'http') {
        protocol = first;
        protocolForwarded = true;
      }
    }
    return { ip: normalizeIp(ip), protocol, protocolForwarded };
  };
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
