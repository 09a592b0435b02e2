/**
 * The chat component's plain functions, usable without building the component (no Koa): what the
 * account export and `secops users export` read. Everything else is reached through index.ts.
 */
export { type ChatExportItem, exportConversations } from './export.js';
export { type BudgetOverride, budgetOverrideOf, setBudgetOverride, type UsageReportRow, usageReport, userUsage } from './budgets-admin.js';
