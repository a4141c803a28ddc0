/** The decision listener: graylane marks, an edge proxy you already run dispatches (docs/integrations.md). */
export { startDecide, decisionHeaders, decidedVersion, VERSION_HEADER, type DecideListener, type DecideOptions } from './server.js';
export { originalRequest, type CheckProblem, type CheckRequest, type CheckShape } from './original-request.js';
export { routeCaching, cachingHeaders, DECISION_TTL_SECONDS, type RouteCaching } from './cache.js';
export { checkOutcome, parseOutcome, syslogMessage, type Outcome, type ReportRejection } from './report.js';
export { startOutcomeListener, type OutcomeListener } from './syslog.js';
export { startReportServer, REPORT_TOKEN_ENV, type ReportServer } from './report-http.js';
export { addTotals, type OutcomeTotals, type ReportVia } from './outcomes.js';
