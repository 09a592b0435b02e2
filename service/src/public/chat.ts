// Model budgets and the usage ledger as operators see them: per-user overrides and usage reports (plain functions over knex).
export { type BudgetOverride, budgetOverrideOf, setBudgetOverride, type UsageReportRow, usageReport, userUsage } from '../components/chat/public.js';
