// Fails fast, with one line saying what to run instead, when the Node running this is older than the
// project supports (package.json "engines"). Plain JavaScript with nothing imported, so that it runs
// on any Node before the code that needs a newer one is even loaded.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const MIN = { major: 24, minor: 11 };

if (major < MIN.major || (major === MIN.major && minor < MIN.minor)) {
  process.stderr.write(
    `rampart: Node ${process.version} is too old: this project runs on Node >= ${MIN.major}.${MIN.minor} (Node 26 LTS). ` +
      'Run it through npm (`npm start`, `npm test`, `npm run secops -- …`), which puts the pinned Node 26 from node_modules/.bin first on the PATH, ' +
      'or use node_modules/.bin/node directly.\n',
  );
  process.exit(1);
}
