import type { Command } from 'commander';
import type { JwtAlgorithm } from '../../../service/src/public/auth.js';
import { defineGroup, examples } from '../lib/command-kit.js';
import { parseDuration } from '../lib/duration.js';
import { UsageError } from '../lib/errors.js';
import type { KeysOptions, KeysTarget, Phase } from './keys.js';

/** `secops keys …`: the JWT keyring and its rotation (run: ./keys.ts). */

const load = () => import('./keys.js');

/** The group's own options, inherited by every keys command. */
interface TargetFlags {
  ref?: string;
  reloadInterval?: string;
  tokenTtl?: string;
}

export function keysTarget(flags: TargetFlags): KeysTarget {
  return {
    ref: flags.ref,
    timings: {
      ...(flags.reloadInterval === undefined ? {} : { reloadIntervalMs: parseDuration(flags.reloadInterval, '--reload-interval') }),
      ...(flags.tokenTtl === undefined ? {} : { tokenLifetimeMs: parseDuration(flags.tokenTtl, '--token-ttl') }),
    },
  };
}

export function parseAlgorithm(text: string): JwtAlgorithm {
  const alg = text.toLowerCase();
  if (alg === 'eddsa' || alg === 'ed25519') return 'EdDSA';
  if (alg === 'hs256') return 'HS256';
  throw new UsageError(`--alg must be EdDSA or HS256 (got ${text})`);
}

interface RotateFlags extends TargetFlags {
  allPhases?: boolean;
  alg: string;
  replica?: string[];
  replicaCa?: string;
  replicaServerName?: string;
  wait?: boolean;
  dryRun?: boolean;
}

export function rotateOptions(phase: string | undefined, flags: RotateFlags): KeysOptions {
  if (flags.allPhases && phase) throw new UsageError('give a phase or --all-phases, not both');
  if (flags.allPhases && flags.dryRun) throw new UsageError('--dry-run shows one phase at a time: give the phase');
  if (!flags.allPhases && !['stage', 'promote', 'prune'].includes(phase ?? '')) {
    throw new UsageError('which phase? stage, promote or prune (or --all-phases)');
  }
  const phases: Phase[] = flags.allPhases ? ['stage', 'promote', 'prune'] : [phase as Phase];
  return {
    action: 'rotate',
    ...keysTarget(flags),
    phases,
    alg: parseAlgorithm(flags.alg),
    replicas: flags.replica ?? [],
    ...(flags.replicaCa || flags.replicaServerName ? { replicaTls: { caFile: flags.replicaCa, serverName: flags.replicaServerName } } : {}),
    wait: flags.allPhases === true || flags.wait === true,
    dryRun: flags.dryRun === true,
  };
}

const ROTATION_HELP = `
Rotation (see runbooks/secret-rotation.md):
  stage    adds a new key, verify-only; replicas load it within one reload interval (or on SIGHUP)
  promote  makes it the signing key once every replica has it: after one reload interval + 5 s since
           stage, or sooner when --replica shows it loaded on each replica; the old key verifies only
  prune    removes retired keys once no token they signed can be valid (reload interval + token TTL
           + 30 s clock tolerance + 5 s after promote)
Each phase is safe to re-run and writes with check-and-set: a concurrent rotation makes it fail
(exit 1) without writing; re-run it.
`;

export const keysGroup = defineGroup('keys', (program, action) => {
  const keys: Command = program
    .command('keys')
    .description('the JWT keyring (JWT_KEYS_REF): create it, list it, rotate the signing key without downtime')
    .option('--ref <ref>', 'where the keyring document lives (default: JWT_KEYS_REF, else file:$JWT_KEYS_FILE)')
    .option('--reload-interval <duration>', 'how often replicas re-read the keyring (default: JWT_KEYS_RELOAD_INTERVAL_SECONDS or 60s)')
    .option('--token-ttl <duration>', 'longest access-token lifetime (default: ACCESS_TOKEN_TTL_SECONDS or 15m)')
    .addHelpText(
      'after',
      `${examples(
        'secops keys list --ref vault://secret/rampart#jwt_keys',
        'secops keys rotate --all-phases',
        'secops keys rotate stage && secops keys rotate promote --wait && secops keys rotate prune --wait',
      )}${ROTATION_HELP}`,
    );

  keys
    .command('init')
    .description('create a keyring document with one signing key (refuses if one exists)')
    .option('--alg <alg>', 'EdDSA (Ed25519, public keys published at /.well-known/jwks.json) or HS256', 'EdDSA')
    .option('--import-secret-ref <ref>', 'start from the current JWT_SECRET (HS256) so tokens it signed stay valid')
    .addHelpText(
      'after',
      examples(
        'secops keys init --ref vault://secret/rampart#jwt_keys',
        'secops keys init --ref vault://secret/rampart#jwt_keys --import-secret-ref vault://secret/rampart#jwt_secret',
      ),
    )
    .action(
      action<KeysOptions, TargetFlags & { alg: string; importSecretRef?: string }>(load, ({ flags }) => ({
        action: 'init',
        ...keysTarget(flags),
        alg: parseAlgorithm(flags.alg),
        importSecretRef: flags.importSecretRef,
      })),
    );

  keys
    .command('list')
    .description('kids, algorithms, roles (signing, staged, retired), ages and when the next phase is safe')
    .addHelpText('after', examples('secops keys list', `secops --json keys list | jq '.keys[] | select(.role == "signing")'`))
    .action(action<KeysOptions, TargetFlags>(load, ({ flags }) => ({ action: 'list', ...keysTarget(flags) })));

  keys
    .command('remove')
    .description('remove a verify-only key at once, without waiting for its tokens to expire (a leaked key)')
    .argument('<kid>', 'the key to remove (never the signing key)')
    .option('--dry-run', 'show what would be removed; write nothing')
    .addHelpText('after', examples('secops keys remove hs-20261127-29006d25 --dry-run', 'secops keys remove hs-20261127-29006d25'))
    .action(
      action<KeysOptions, TargetFlags & { dryRun?: boolean }>(load, ({ flags, args }) => ({
        action: 'remove',
        ...keysTarget(flags),
        kid: args[0] as string,
        dryRun: flags.dryRun === true,
      })),
    );

  keys
    .command('rotate')
    .description('rotate the signing key: one phase (stage | promote | prune) or --all-phases with the waits between them')
    .argument('[phase]', 'stage, promote or prune')
    .option('--all-phases', 'stage, wait, promote, wait, prune')
    .option('--alg <alg>', 'algorithm of the new key (stage): EdDSA or HS256', 'EdDSA')
    .option('--replica <url...>', 'metrics endpoint of each replica (https://pod-ip:9464): promote once each shows the new key')
    .option('--replica-ca <file>', 'PEM CA bundle the replicas\' metrics certificates chain to (the cluster\'s internal CA)')
    .option('--replica-server-name <name>', 'name on the replicas\' metrics certificate, when they are reached by pod IP (k8s: rampart-metrics)')
    .option('--wait', 'sleep until the phase is safe instead of failing with the time left')
    .option('--dry-run', 'show what the phase would change; write nothing')
    .addHelpText(
      'after',
      examples(
        'secops keys rotate stage --alg EdDSA',
        'secops keys rotate promote --wait',
        'secops keys rotate promote --replica https://10.0.1.7:9464 https://10.0.2.9:9464 --replica-ca internal-ca.crt --replica-server-name rampart-metrics',
        'secops keys rotate prune --dry-run',
        'secops --json keys rotate --all-phases',
      ),
    )
    .action(action<KeysOptions, RotateFlags>(load, ({ flags, args }) => rotateOptions(args[0], flags)));
});
