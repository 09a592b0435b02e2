import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cgroupCpuQuota, cpuBudget, defaultHashConcurrency, loadConfig } from '../../../service/src/config/load.js';

/** A file system with only `files`; any other path throws ENOENT, as readFileSync would. */
function fakeFs(files: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
}

describe('CPU budget (cgroup quota and available parallelism)', () => {
  it('reads the cgroup v2 cpu.max: whole CPUs, rounded down, at least one; "max" is no limit', () => {
    const v2 = (text: string) => cgroupCpuQuota(fakeFs({ '/sys/fs/cgroup/cpu.max': text }));
    assert.equal(v2('max 100000\n'), undefined);
    assert.equal(v2('100000 100000\n'), 1);
    assert.equal(v2('150000 100000\n'), 1);
    assert.equal(v2('50000 100000\n'), 1);
    assert.equal(v2('400000 100000\n'), 4);
    assert.equal(v2('garbage\n'), undefined);
  });

  it('falls back to the cgroup v1 quota and period; -1 is no limit; nothing readable is no limit', () => {
    const v1 = (quota: string) =>
      cgroupCpuQuota(fakeFs({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': quota, '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }));
    assert.equal(v1('200000\n'), 2);
    assert.equal(v1('-1\n'), undefined);
    assert.equal(
      cgroupCpuQuota(fakeFs({ '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '300000', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000' })),
      3,
    );
    assert.equal(cgroupCpuQuota(fakeFs({})), undefined);
  });

  it('is the smaller of os.availableParallelism() and the quota', () => {
    const budget = (parallelism: number, cpuMax?: string) =>
      cpuBudget({ parallelism: () => parallelism, readFile: fakeFs(cpuMax === undefined ? {} : { '/sys/fs/cgroup/cpu.max': cpuMax }) });
    assert.equal(budget(16, '200000 100000'), 2, 'a 2-CPU pod on a 16-core node');
    assert.equal(budget(2, '800000 100000'), 2, 'a quota above the cores the process may run on');
    assert.equal(budget(8, 'max 100000'), 8);
    assert.equal(budget(8), 8, 'no cgroup file');
    assert.equal(budget(0), 1, 'never below one');
  });
});

describe('default password-hash concurrency', () => {
  it('is one hash per CPU the process may use: the hashing threads run below the event loop’s priority', () => {
    assert.equal(defaultHashConcurrency(1), 1);
    assert.equal(defaultHashConcurrency(2), 2);
    assert.equal(defaultHashConcurrency(16), 16);
    assert.equal(defaultHashConcurrency(cpuBudget({ parallelism: () => 16, readFile: fakeFs({ '/sys/fs/cgroup/cpu.max': '150000 100000' }) })), 1);
  });

  it('is what the service runs with unless ARGON2_MAX_CONCURRENCY is set', () => {
    assert.equal(loadConfig({}).config.argon2.maxConcurrent, defaultHashConcurrency());
    assert.equal(loadConfig({ ARGON2_MAX_CONCURRENCY: '7' }).config.argon2.maxConcurrent, 7);
  });

  it('lowers the hashing threads to nice 10 unless ARGON2_THREAD_NICE says otherwise (0–19)', () => {
    assert.equal(loadConfig({}).config.argon2.threadNice, 10);
    assert.equal(loadConfig({ ARGON2_THREAD_NICE: '0' }).config.argon2.threadNice, 0);
    assert.equal(loadConfig({ ARGON2_THREAD_NICE: '19' }).config.argon2.threadNice, 19);
    assert.throws(() => loadConfig({ ARGON2_THREAD_NICE: '20' }), /ARGON2_THREAD_NICE/);
    assert.throws(() => loadConfig({ ARGON2_THREAD_NICE: '-1' }), /ARGON2_THREAD_NICE/);
  });
});
