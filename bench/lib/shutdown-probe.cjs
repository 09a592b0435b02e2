'use strict';
/**
 * bench:shutdown's server-side witness, preloaded into the service process (`--require`) by
 * bench/shutdown/scenario.ts only. It observes and changes nothing: it keeps the client ports of the last
 * connections each HTTP server accepted, and when a server's listener closes it writes one line to
 * stderr (the service log file) with those ports and the connections Node's parser sees as idle then. With it the bench can tell, for a connection reset at listener close, whether the
 * service ever accepted it (a reset in the kernel's accept queue) or destroyed it unread.
 */
const http = require('node:http');
const { writeSync } = require('node:fs');

const KEEP = 5000;
const accepted = new WeakMap();
const reported = new WeakSet();

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'connection') {
    let ring = accepted.get(this);
    if (!ring) {
      ring = [];
      accepted.set(this, ring);
    }
    ring.push([args[0].remotePort, Date.now()]);
    if (ring.length > KEEP * 2) ring.splice(0, ring.length - KEEP);
  }
  return emit.call(this, event, ...args);
};

// Hooked on close(), where the listener stops accepting (the service replaces closeIdleConnections on
// its own servers: platform/http/server.ts), before any connection is closed.
const close = http.Server.prototype.close;
http.Server.prototype.close = function (...args) {
  const ring = accepted.get(this);
  if (ring && !reported.has(this)) {
    reported.add(this);
    const sym = Object.getOwnPropertySymbols(this).find((s) => s.description === 'http.server.connections');
    const idle = sym && this[sym] ? this[sym].idle() : [];
    const line = {
      bench_probe: 'listener_close',
      time: Date.now(),
      listening: this.listening,
      accepted: ring.slice(-KEEP),
      idle: idle.map((p) => ({
        port: p.socket?.remotePort ?? null,
        bytes_read: p.socket?.bytesRead ?? null,
        responding: p.socket?._httpMessage ? !p.socket._httpMessage.finished : false,
      })),
    };
    writeSync(2, `${JSON.stringify(line)}\n`);
  }
  return close.apply(this, args);
};
