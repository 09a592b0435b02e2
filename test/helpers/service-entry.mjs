// The service as bin/rampart.js boots it, always from the TypeScript sources: tests run production
// settings (NODE_ENV=production) against the code under test, not a stale dist/.
import '../../bin/require-node.js';
import { boot } from '../../bin/boot.js';

await boot('sources');
