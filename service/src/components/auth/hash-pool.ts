/**
 * A fixed pool of worker threads that compute Argon2 synchronously (./hash-worker.mjs), each at a
 * lower scheduling priority than the event loop. Why a pool of our own rather than piscina: the pool
 * needs one behaviour per thread at start (lowering its own priority, reporting its thread id) and a
 * thread that is idle must never keep the process alive; the queue bound and the 503 already live in
 * platform/concurrency-limit.ts, in front of it. Forty lines of scheduling cost less than a
 * dependency whose own queue would sit behind ours.
 *
 * Threads start on demand, one per job running at once, up to `size` (the caller's concurrency limit
 * never asks for more), and stay. A thread is unref'd while idle: an idle pool keeps no process alive
 * (tests that never call close() still exit), a busy one does until its job answers. close()
 * terminates every thread; jobs still running are refused.
 */
import { Worker } from 'node:worker_threads';

export interface HashPolicy {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  hashBytes: number;
}

export interface HashPoolOptions {
  /** Threads at most (≥ 1). */
  size: number;
  /** Nice value each thread gives itself at start (0–19); 0 leaves its priority alone. */
  nice: number;
  /** Called once, the first time a thread could not lower its priority; the thread hashes anyway. */
  onPriorityError?: (message: string) => void;
}

export interface HashThread {
  /** Linux thread id (/proc/<pid>/task/<tid>), undefined elsewhere. */
  tid: number | undefined;
  /** The nice value the thread runs at, as it read it back; undefined when it could not. */
  nice: number | undefined;
}

export interface HashPool {
  hash(password: string, salt: Uint8Array, policy: HashPolicy): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Starts every thread that is not running yet and describes them all (tests, start-up logs). */
  start(): Promise<HashThread[]>;
  /** Threads running now. */
  size(): number;
  /** Terminates every thread; later calls are refused. */
  close(): Promise<void>;
}

type Job =
  | { op: 'hash'; password: string; salt: Uint8Array; policy: HashPolicy }
  | { op: 'verify'; hash: string; password: string };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: Promise<HashThread>;
  /** The job this thread is computing. */
  current: { id: number; pending: Pending } | undefined;
}

type FromWorker =
  | { type: 'ready'; tid: number | undefined; nice: number | undefined; priorityError: string | undefined }
  | { type: 'done'; id: number; value: unknown }
  | { type: 'failed'; id: number; message: string };

const WORKER_URL = new URL('./hash-worker.mjs', import.meta.url);

export function createHashPool(options: HashPoolOptions): HashPool {
  const { size, nice } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be an integer ≥ 1, got ${size}`);
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`nice must be an integer 0–19, got ${nice}`);

  const slots = new Set<Slot>();
  const idle: Slot[] = [];
  const waiting: { job: Job; pending: Pending }[] = [];
  let nextId = 0;
  let closed = false;
  let priorityReported = false;

  function spawn(): Slot {
    // No execArgv: the thread runs plain JavaScript and needs none of the parent's flags (--cpu-prof
    // would write one profile per thread, a TypeScript loader would only cost start-up time).
    const worker = new Worker(WORKER_URL, { workerData: { nice }, execArgv: [], stdout: false, stderr: false });
    let readyResolve!: (t: HashThread) => void;
    let readyReject!: (err: Error) => void;
    const slot: Slot = {
      worker,
      ready: new Promise<HashThread>((resolve, reject) => {
        readyResolve = resolve;
        readyReject = reject;
      }),
      current: undefined,
    };
    slot.ready.catch(() => undefined); // a thread that dies at start fails its job, not the process
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') {
        if (msg.priorityError !== undefined && !priorityReported) {
          priorityReported = true;
          options.onPriorityError?.(msg.priorityError);
        }
        readyResolve({ tid: msg.tid, nice: msg.nice });
        if (!slot.current) worker.unref();
        return;
      }
      const current = slot.current;
      if (!current || current.id !== msg.id) return;
      slot.current = undefined;
      worker.unref();
      if (msg.type === 'done') current.pending.resolve(msg.value);
      else current.pending.reject(new Error(`password hashing failed: ${msg.message}`));
      release(slot);
    });
    const fail = (err: Error) => {
      readyReject(err);
      slots.delete(slot);
      const i = idle.indexOf(slot);
      if (i >= 0) idle.splice(i, 1);
      const current = slot.current;
      slot.current = undefined;
      current?.pending.reject(err);
      // A replacement starts with the next job (dispatch), so the pool heals itself.
      if (!closed) dispatch();
    };
    worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => fail(new Error(`password hashing thread exited (code ${code})`)));
    // Ref'd until it reports ready (whoever awaits start() needs the process alive), unref'd when idle.
    slots.add(slot);
    return slot;
  }

  function assign(slot: Slot, job: Job, pending: Pending): void {
    const id = nextId++;
    slot.current = { id, pending };
    slot.worker.ref(); // a job in flight keeps the process alive until it answers
    slot.worker.postMessage({ ...job, id });
  }

  function release(slot: Slot): void {
    const next = waiting.shift();
    if (next) assign(slot, next.job, next.pending);
    else idle.push(slot);
  }

  function dispatch(): void {
    while (waiting.length > 0) {
      const slot = idle.pop() ?? (slots.size < size ? spawn() : undefined);
      if (!slot) return;
      const next = waiting.shift() as (typeof waiting)[number];
      assign(slot, next.job, next.pending);
    }
  }

  function run<T>(job: Job): Promise<T> {
    if (closed) return Promise.reject(new Error('the password hashing pool is closed'));
    return new Promise<T>((resolve, reject) => {
      waiting.push({ job, pending: { resolve: resolve as (v: unknown) => void, reject } });
      dispatch();
    });
  }

  return {
    hash: (password, salt, policy) => run<string>({ op: 'hash', password, salt, policy }),
    verify: (hash, password) => run<boolean>({ op: 'verify', hash, password }),
    async start() {
      if (closed) throw new Error('the password hashing pool is closed');
      while (slots.size < size) idle.push(spawn());
      return Promise.all([...slots].map((s) => s.ready));
    },
    size: () => slots.size,
    async close() {
      closed = true;
      const all = [...slots];
      for (const { pending } of waiting.splice(0)) pending.reject(new Error('the password hashing pool is closed'));
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
