#!/usr/bin/env node
// The service's entry point: `npm start`, and the image's CMD. It refuses a Node older than the project
// supports, then boots the compiled dist/ under NODE_ENV=production (no TypeScript loader in
// production: tsx is a development dependency) and the TypeScript sources otherwise (./boot.js).
import './require-node.js';
import { boot } from './boot.js';

await boot(process.env.NODE_ENV === 'production' ? 'compiled' : 'sources');
