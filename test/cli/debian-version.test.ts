import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { debianEventsAffect } from '../../cli/src/lib/supply-chain/advisories.js';
import { compareDebianVersions, parseDebianVersion } from '../../cli/src/lib/supply-chain/debian-version.js';
import { debianEcosystem } from '../../cli/src/lib/supply-chain/sbom-components.js';

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

describe('OSV Debian ranges', () => {
  it('a version is affected from "introduced" up to, not including, "fixed"', () => {
    const events: Record<string, string>[] = [{ introduced: '0' }, { fixed: '2.36-9+deb12u3' }];
    assert.equal(debianEventsAffect(events, '2.36-9+deb12u2'), true);
    assert.equal(debianEventsAffect(events, '2.36-9+deb12u3'), false);
    assert.equal(debianEventsAffect(events, '2.36-9+deb12u10'), false, 'u10 sorts after u3');
    assert.equal(debianEventsAffect(events, '1:2.0-1'), false, 'an epoch sorts above any fix without one');
  });

  it('"last_affected" includes its version; a range introduced again after a fix affects again', () => {
    assert.equal(debianEventsAffect([{ introduced: '1.0-1' }, { last_affected: '1.2-3' }], '1.2-3'), true);
    assert.equal(debianEventsAffect([{ introduced: '1.0-1' }, { last_affected: '1.2-3' }], '1.2-3+b1'), false);
    assert.equal(debianEventsAffect([{ introduced: '1.0-1' }, { last_affected: '1.2-3' }], '0.9-1'), false);
    const twice: Record<string, string>[] = [
      { introduced: '0' },
      { fixed: '1.5-1' },
      { introduced: '2.0-1' },
      { fixed: '2.3-1' },
    ];
    assert.deepEqual(
      ['1.0-1', '1.7-1', '2.1-1', '2.3-1'].map((v) => debianEventsAffect(twice, v)),
      [true, false, true, false],
    );
  });

  it('an SBOM distro qualifier names the OSV ecosystem by release number or codename', () => {
    assert.equal(debianEcosystem('debian-12'), 'Debian:12');
    assert.equal(debianEcosystem('debian-13.2'), 'Debian:13');
    assert.equal(debianEcosystem('bookworm'), 'Debian:12');
    assert.equal(debianEcosystem('trixie'), 'Debian:13');
    assert.equal(debianEcosystem('ubuntu-24.04'), undefined);
    assert.equal(debianEcosystem(undefined), undefined);
  });
});
