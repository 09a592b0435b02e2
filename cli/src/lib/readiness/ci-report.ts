import type { ItemStatus } from './checklist.js';
import type { ReadinessItem } from './evaluate.js';

/**
 * The CI mode's files (`--ci`): a JUnit XML with one test case per seed item (failed items fail with
 * their evidence, manual ones are skipped with the reason) and a Markdown summary, for the release
 * workflow to attach.
 */
export interface ReportHeader {
  url: string;
  checkedAt: string;
  tiers: readonly string[];
  summary: Record<ItemStatus, number>;
}

const xml = (text: string) =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // Characters XML 1.0 forbids: control characters other than tab, newline, carriage return.
    .split('')
    .filter((c) => c.charCodeAt(0) >= 0x20 || c === '\t' || c === '\n' || c === '\r')
    .join('');

export function junitXml(header: ReportHeader, items: readonly ReadinessItem[]): string {
  const { passed, failed, manual } = header.summary;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="secops readiness" tests="${items.length}" failures="${failed}" skipped="${manual}">`,
    `  <testsuite name="production readiness of ${xml(header.url)}" tests="${items.length}" failures="${failed}" skipped="${manual}" errors="0" timestamp="${header.checkedAt}">`,
    `    <properties><property name="tiers" value="${xml(header.tiers.join(','))}"/><property name="passed" value="${passed}"/></properties>`,
  ];
  for (const item of items) {
    const open = `    <testcase classname="${xml(item.section)}" name="${xml(`${item.id}: ${item.title}`)}"`;
    if (item.status === 'passed') lines.push(`${open}><system-out>${xml(item.evidence)}</system-out></testcase>`);
    else if (item.status === 'failed')
      lines.push(
        `${open}><failure message="${xml(item.evidence.slice(0, 500))}" type="readiness">${xml(item.evidence)}</failure></testcase>`,
      );
    else lines.push(`${open}><skipped message="${xml(item.evidence.slice(0, 500))}"/></testcase>`);
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

const md = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const MARK: Record<ItemStatus, string> = { passed: '[x]', failed: '[ ]', manual: '[manual]' };

export function markdownSummary(header: ReportHeader, items: readonly ReadinessItem[]): string {
  const { passed, failed, manual } = header.summary;
  const lines = [
    `# Production readiness of ${header.url}`,
    '',
    `${header.checkedAt} — tiers: ${header.tiers.join(', ')}`,
    '',
    `**${passed} verified, ${failed} failed, ${manual} manual** of ${items.length} — ${failed === 0 ? 'READY (automated checks)' : 'NOT READY'}`,
  ];
  const failures = items.filter((i) => i.status === 'failed');
  if (failures.length > 0) {
    lines.push('', '## Failed', '');
    for (const i of failures) lines.push(`- \`${i.id}\` ${md(i.title)}: ${md(i.evidence)}`);
  }
  let section = '';
  for (const item of items) {
    if (item.section !== section) {
      section = item.section;
      lines.push('', `## ${section}`, '', '| | item | evidence |', '|---|---|---|');
    }
    lines.push(`| ${MARK[item.status]} | ${md(item.title)} (\`${item.id}\`) | ${md(item.evidence)} |`);
  }
  lines.push('');
  return lines.join('\n');
}
