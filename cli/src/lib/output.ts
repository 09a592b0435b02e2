import { styleText } from 'node:util';
import type { CliContext } from './context.js';

/**
 * How a command talks to its user. Human mode writes result lines to stdout and progress to stderr;
 * on a terminal, progress is a spinner and marks are coloured. Under `--json` stdout receives exactly
 * one document (`json()`), human lines are dropped and progress is silent; warnings still go to
 * stderr, which machines may ignore.
 */
export interface Reporter {
  /** A human result line on stdout (dropped under --json). */
  line(text: string): void;
  /** A human result line marked as a success. */
  success(text: string): void;
  /** A warning on stderr, in every mode. */
  warn(text: string): void;
  /** Runs a long step with a spinner on a terminal, a plain line on stderr otherwise. */
  step<T>(label: string, fn: () => Promise<T>): Promise<T>;
  /** The one JSON document of a `--json` run (ignored otherwise); a second call is a bug. */
  json(document: unknown): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 80;
const CLEAR_LINE = '\r\x1b[2K';

export function createReporter(ctx: CliContext): Reporter {
  const human = !ctx.json;
  const interactive = human && ctx.isTTY;
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  const colour = interactive && !ctx.env.NO_COLOR;
  const paint = (format: Parameters<typeof styleText>[0], text: string) => (colour ? styleText(format, text) : text);
  let jsonWritten = false;

  return {
    line(text) {
      if (human) ctx.stdout.write(`${text}\n`);
    },
    success(text) {
      if (human) ctx.stdout.write(`${paint('green', '✔')} ${text}\n`);
    },
    warn(text) {
      ctx.stderr.write(`${paint('yellow', 'warning:')} ${text}\n`);
    },
    async step(label, fn) {
      if (!human) return fn();
      if (!interactive) {
        ctx.stderr.write(`${label}…\n`);
        return fn();
      }
      let frame = 0;
      const draw = () => ctx.stderr.write(`${CLEAR_LINE}${paint('cyan', FRAMES[frame++ % FRAMES.length] as string)} ${label}`);
      draw();
      const timer = setInterval(draw, FRAME_MS);
      timer.unref();
      const finish = (mark: string) => {
        clearInterval(timer);
        ctx.stderr.write(`${CLEAR_LINE}${mark} ${label}\n`);
      };
      try {
        const result = await fn();
        finish(paint('green', '✔'));
        return result;
      } catch (err) {
        finish(paint('red', '✖'));
        throw err;
      }
    },
    json(document) {
      if (!ctx.json) return;
      if (jsonWritten) throw new Error('reporter: a --json run writes exactly one document');
      jsonWritten = true;
      ctx.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    },
  };
}
