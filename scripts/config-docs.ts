/**
 * docs/configuration.md, generated from the settings table (service/src/config/settings.ts):
 *
 *   npm run docs:config            rewrite docs/configuration.md
 *   npm run docs:config -- --check exit 1 when it differs from the table (test/service/config/settings.test.ts does the same)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS, type SettingSpec } from '../service/src/config/settings.js';

export const CONFIGURATION_DOC = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

function defaultOf(spec: SettingSpec): string {
  const parsed = spec.schema.safeParse(undefined);
  if (!parsed.success) return 'required';
  if (parsed.data === undefined) return '—';
  if (typeof parsed.data === 'string') return parsed.data === '' ? '(empty)' : `\`${parsed.data}\``;
  return `\`${JSON.stringify(parsed.data)}\``;
}

function sourcesOf(name: string, spec: SettingSpec): string {
  const names = [`\`${name}\``];
  if (spec.sources?.includes('file')) names.push(`\`${name}_FILE\``);
  if (spec.sources?.includes('ref')) names.push(`\`${name}_REF\``);
  return names.join(', ');
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function renderConfigurationDoc(): string {
  const groups = new Map<string, [string, SettingSpec][]>();
  for (const [name, spec] of Object.entries(SETTINGS) as [string, SettingSpec][]) {
    const list = groups.get(spec.group) ?? [];
    list.push([name, spec]);
    groups.set(spec.group, list);
  }
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from service/src/config/settings.ts by `npm run docs:config`; edit the table, not this file. -->',
    '',
    'Every environment variable the service and `secops` read. A setting given by more than one of its',
    'sources (`NAME`, `NAME_FILE`: a file holding it, `NAME_REF`: a secret-store reference such as',
    '`vault://secret/rampart#jwt`) is refused. An empty variable counts as unset. Production (`NODE_ENV=production`)',
    'refuses to start without the settings marked required there, and with a weak secret or Argon2 cost;',
    'configuration errors name the variable, never its value. The product contract is in `docs/api.md`.',
  ];
  for (const [group, settings] of groups) {
    lines.push('', `## ${group}`, '', '| variable (sources) | default | meaning |', '|---|---|---|');
    for (const [name, spec] of settings) {
      const flags = [spec.secret ? 'secret' : '', spec.requiredInProduction ? 'required in production' : ''].filter(Boolean);
      const meaning = flags.length ? `${spec.doc} *(${flags.join('; ')})*` : spec.doc;
      lines.push(`| ${sourcesOf(name, spec)} | ${cell(defaultOf(spec))} | ${cell(meaning)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderConfigurationDoc();
  if (process.argv.includes('--check')) {
    const current = readFileSync(CONFIGURATION_DOC, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md differs from the settings table: run `npm run docs:config`\n');
      process.exit(1);
    }
    process.stdout.write('docs/configuration.md matches the settings table\n');
  } else {
    writeFileSync(CONFIGURATION_DOC, text);
    process.stdout.write(`wrote ${CONFIGURATION_DOC}\n`);
  }
}
