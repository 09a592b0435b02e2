import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTerminal, stdioWriter } from '../../cli/src/lib/stdio.js';

/**
 * The CLI's stdout and stderr (cli/src/lib/stdio.ts): bytes written with write(2), in order and whole;
 * a reader that went away ends the command quietly; a descriptor that would block hands the rest to
 * Node's stream without losing or reordering a byte; terminals told apart without node:tty.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-stdio-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the CLI stdio writer', () => {
  it('writes every byte of multi-byte text to a file, in order', (t) => {
    const path = join(scratch(t), 'out.txt');
    const fd = openSync(path, 'w');
    t.after(() => closeSync(fd));
    const writer = stdioWriter(fd, {
      stream: () => assert.fail('a file never needs the stream'),
      onClosed: () => assert.fail('not closed'),
    });
    const text = 'é✔ ⠋ naïve — 漢字\n'.repeat(5_000);
    writer.write(text);
    writer.write('end\n');
    assert.equal(readFileSync(path, 'utf8'), `${text}end\n`);
  });

  it('when the descriptor would block, hands the rest to the stream without losing or reordering a byte', async (t) => {
    const fifo = join(scratch(t), 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Read-write and non-blocking: the FIFO opens without a reader, and fills after 64 KiB.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    let built: Socket | undefined;
    t.after(() => {
      built?.destroy();
      closeSync(reader);
    });
    const writer = stdioWriter(fd, {
      stream: () => {
        built = new Socket({ fd, readable: false });
        return built as unknown as NodeJS.WriteStream;
      },
      onClosed: () => assert.fail('not closed'),
    });
    const chunks = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(10_000)}\n`);
    for (const chunk of chunks) writer.write(chunk);
    assert.ok(built, 'the FIFO filled up, so the stream took over');

    const expected = chunks.join('');
    const received: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.alloc(65_536);
    while (total < expected.length) {
      let n = 0;
      try {
        n = readSync(reader, buffer);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (n > 0) {
        received.push(Buffer.from(buffer.subarray(0, n)));
        total += n;
      } else await new Promise((resolve) => setImmediate(resolve)); // let the stream write the rest
    }
    assert.equal(Buffer.concat(received).toString('utf8'), expected);
  });

  it('when the reader has gone (secops … | head), calls onClosed instead of throwing', async (t) => {
    // A child writes 10 MiB through the writer; its stdout pipe is closed before it starts.
    const script = `
      import { stdioWriter } from ${JSON.stringify(join(ROOT, 'cli/src/lib/stdio.ts'))};
      const out = stdioWriter(1, { stream: () => process.stdout, onClosed: () => { process.stderr.write('closed\\n'); process.exit(0); } });
      for (let i = 0; i < 160; i++) out.write('y'.repeat(65_536));
      process.stderr.write('wrote everything\\n');
      process.exit(3);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(stderr, 'closed\n');
    assert.equal(code, 0);
  });

  it('tells a file, a pipe and /dev/null from a terminal without loading node:tty', (t) => {
    const file = openSync(join(scratch(t), 'f'), 'w');
    const devNull = openSync('/dev/null', 'w');
    t.after(() => {
      closeSync(file);
      closeSync(devNull);
    });
    assert.equal(isTerminal(file), false);
    assert.equal(isTerminal(devNull), false);
    assert.equal(isTerminal(987_654), false, 'a closed descriptor');
    // In a child whose stdout is a pipe and stderr /dev/null: both answers false, and node:tty never
    // loaded. Node strips the module's types itself: tsx would load node:tty on its own.
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { isTerminal } from ${JSON.stringify(join(ROOT, 'cli/src/lib/stdio.ts'))};
         const answers = [isTerminal(1), isTerminal(2)];
         console.log(JSON.stringify({ answers, tty: process.moduleLoadList.includes('NativeModule tty') }));`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', openSync('/dev/null', 'w')] },
    ).toString();
    assert.deepEqual(JSON.parse(out), { answers: [false, false], tty: false });
  });

  it('asks node:tty about a real terminal (a pseudo-terminal from script(1))', (t) => {
    let hasScript = true;
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
    } catch {
      hasScript = false;
    }
    if (!hasScript) return t.skip('script(1) is not installed');
    const out = execFileSync(
      'script',
      [
        '-qec',
        `${process.execPath} --import tsx --input-type=module -e "import { isTerminal } from '${join(ROOT, 'cli/src/lib/stdio.ts')}'; console.log('answer=' + isTerminal(1))"`,
        '/dev/null',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
    assert.match(out, /answer=true/);
  });
});
