import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareDebianVersions, parseDebianVersion } from '../../cli/src/lib/supply-chain/debian-version.js';

const sign = (a: string, b: string) => Math.sign(compareDebianVersions(a, b));

describe('Debian version ordering (dpkg --compare-versions)', () => {
  it('splits epoch, upstream version and the revision after the last hyphen', () => {
    assert.deepEqual(parseDebianVersion('1:2.3-4-5'), { epoch: 1, upstream: '2.3-4', revision: '5' });
    assert.deepEqual(parseDebianVersion('3.0.11-1~deb12u2'), { epoch: 0, upstream: '3.0.11', revision: '1~deb12u2' });
    assert.deepEqual(parseDebianVersion('1.2'), { epoch: 0, upstream: '1.2', revision: '' });
  });

  it('a higher epoch wins whatever the rest says', () => {
    assert.equal(sign('1:1.0', '9.9'), 1);
    assert.equal(sign('2:0.1-1', '1:99-1'), 1);
    assert.equal(sign('0:1.0-1', '1.0-1'), 0, 'a missing epoch is 0');
  });

  it('a tilde sorts before everything, even the end of the version', () => {
    assert.equal(sign('1.0~rc1', '1.0'), -1);
    assert.equal(sign('1.0~~', '1.0~'), -1);
    assert.equal(sign('1.0~~a', '1.0~~'), 1);
    assert.equal(sign('3.0.11-1~deb12u2', '3.0.11-1'), -1, 'a stable update sorts before the unstable revision');
    assert.equal(sign('3.0.11-1~deb12u2', '3.0.11-1~deb12u1'), 1);
  });

  it('digit runs compare as numbers, letters before other characters', () => {
    assert.equal(sign('1.10', '1.9'), 1);
    assert.equal(sign('1.010', '1.10'), 0, 'leading zeros do not count');
    assert.equal(sign('1.0a', '1.0+'), -1, 'a letter sorts before a non-letter');
    assert.equal(sign('1.0a', '1.0'), 1);
    assert.equal(sign('1.0+b1', '1.0'), 1);
  });

  it('revisions decide when the upstream versions are equal; no revision sorts first', () => {
    assert.equal(sign('2.36-9+deb12u10', '2.36-9+deb12u9'), 1);
    assert.equal(sign('1.0-1', '1.0'), 1);
    assert.equal(sign('7.88.1-10+deb12u12', '7.88.1-10+deb12u5'), 1);
  });

  it('agrees with dpkg on a table of real package versions', () => {
    // Each pair was checked with `dpkg --compare-versions A lt B` on Debian 12.
    const ascending = [
      '0',
      '2.36-9+deb12u4',
      '2.36-9+deb12u10',
      '1:0',
      '1:2.36-1',
      '1:9.2p1-2~bpo12+1',
      '1:9.2p1-2',
      '1:9.2p1-2+deb12u1',
    ];
    for (let k = 0; k + 1 < ascending.length; k++)
      assert.equal(sign(ascending[k]!, ascending[k + 1]!), -1, `${ascending[k]} < ${ascending[k + 1]}`);
  });

  it('refuses text that is not a version', () => {
    assert.throws(() => parseDebianVersion(''), /not a Debian version/);
    assert.throws(() => parseDebianVersion('x:1.0'), /epoch/);
    assert.throws(() => parseDebianVersion('1.0 2'), /not a Debian version/);
  });
});
