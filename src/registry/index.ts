/** The instance registry (pure): registrations with TTL and heartbeats -> `Status.registered`. */
export {
  InstanceRegistry,
  RegistryError,
  type Instance,
  type InstanceInput,
  type RegistryErrorCode,
  type RegistryOptions,
} from './registry.js';
