export { Notifier, type RolloutEventSink, type NotifierOptions } from './notifier.js';
export { approvalRoutes } from './approval-routes.js';
export * from './types.js';
