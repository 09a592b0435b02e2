import { fstatSync, statSync, writeSync } from 'node:fs';

/**
 * The process's standard output and error as the CLI writes them: `write(2)` on the descriptor
 * itself, the way Node's own `process.stdout` writes to a file, a pipe or a terminal on Linux
 * (synchronously), without building that stream. Building `process.stdout` for a pipe costs ~3.5 ms
 * and `process.stderr` ~1.5 ms of a `secops --help` that takes ~40 ms (docs/performance.md, "CLI
 * startup"); most commands never write to stderr at all.
 *
 * The stream is still what writes when the descriptor cannot be written synchronously: a descriptor in
 * non-blocking mode (a parent shared it that way) answers EAGAIN when full, and from then on this
 * writer hands everything, the rest of that chunk first, to the Node stream, which waits for the
 * descriptor. Order is kept either way: every earlier write had completed.
 */
export interface StdioWriter {
  write(chunk: string): unknown;
  /** The terminal's width when the descriptor is a terminal, else undefined. */
  columns(): number | undefined;
}

export interface StdioOptions {
  /** The Node stream for the descriptor, built when first needed (`() => process.stdout`). */
  readonly stream: () => NodeJS.WriteStream;
  /** A closed reader (`secops … | head`): EPIPE. Called instead of throwing. */
  readonly onClosed: () => void;
}

export function stdioWriter(fd: number, options: StdioOptions): StdioWriter {
  let viaStream = false;
  let built: NodeJS.WriteStream | undefined;
  const stream = () => {
    if (built === undefined) {
      built = options.stream();
      built.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') options.onClosed();
        else throw err;
      });
    }
    return built;
  };
  return {
    write(chunk: string) {
      if (viaStream) return stream().write(chunk);
      const bytes = Buffer.from(chunk, 'utf8');
      let offset = 0;
      try {
        while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') {
          options.onClosed();
          return false;
        }
        if (code !== 'EAGAIN') throw err;
        viaStream = true;
        return stream().write(bytes.subarray(offset));
      }
      return true;
    },
    columns: () => (isTerminal(fd) ? stream().columns : undefined),
  };
}

/** Both descriptors are terminals (what `CliIo.isTTY` means), asked without building either stream. */
export function bothTerminals(): boolean {
  return isTerminal(1) && isTerminal(2);
}

/**
 * isatty(3). A terminal is a character device; a pipe, a file, a socket or /dev/null is not, and
 * telling those apart costs a stat or two, where node:tty, the module with isatty, loads node:net and
 * the stream machinery (~8 ms of `secops --help`). So node:tty is asked only about another character
 * device, which is almost always a terminal.
 */
export function isTerminal(fd: number): boolean {
  try {
    const device = fstatSync(fd);
    if (!device.isCharacterDevice()) return false;
    // Output thrown away (`> /dev/null`, hyperfine) is the common character device that is no terminal.
    if (device.rdev === statSync('/dev/null', { throwIfNoEntry: false })?.rdev) return false;
  } catch {
    return false; // a closed descriptor
  }
  return process.getBuiltinModule('node:tty').isatty(fd);
}
