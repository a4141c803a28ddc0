/**
 * The instance registry: registrations with TTL and heartbeats -> `Status.registered`. registry.ts is
 * the pure table; service.ts adds the clock, the expiry timer and the change callback.
 */
export {
  InstanceRegistry,
  RegistryError,
  type Instance,
  type InstanceInput,
  type RegistryErrorCode,
  type RegistryOptions,
  validateInstance,
} from './registry.js';
export { LocalInstances, type Instances, type LocalInstancesOptions } from './service.js';
