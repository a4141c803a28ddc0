/** The decision listener: graylane marks, an edge proxy you already run dispatches (docs/integrations.md). */
export { startDecide, decisionHeaders, type DecideListener, type DecideOptions } from './server.js';
export { originalRequest, type CheckProblem, type CheckRequest, type CheckShape } from './original-request.js';
