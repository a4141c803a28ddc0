/**
 * The admin API's wire types: every shape that crosses /api/v1 and the server-sent events, in one
 * import for the dashboard (web/src/api.ts) and any other client. Each is defined beside the code
 * that produces it (the overview in metrics/, the rollout view in rollout/, the explanation in
 * routing/); this module is the contract's one address, and web/ imports nothing else of src/
 * (scripts/imports.mjs checks that).
 */
export type { ConfigInfo, ReloadError, StoreHealth } from '../metrics/config-info.js';
export type { Explanation } from '../routing/explain.js';
export type { StepCheck } from '../routing/types.js';
export type {
  GatewayOverview,
  GatewaysOverview,
  HistoryPoint,
  Overview,
  RolloutOverview,
  RouteOverview,
  ServiceOverview,
  TotalsByVersion,
  VersionOverview,
} from '../metrics/overview.js';
export type { ReleaseServiceView, ReleaseView, RolloutView } from '../rollout/view.js';
export type { AnalysisRun } from '../rollout/analysis.js';
