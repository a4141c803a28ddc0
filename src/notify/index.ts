export { Notifier, type RolloutEventSink, type NotifierOptions } from './notifier.js';
export * from '../spec/notifications.js';
