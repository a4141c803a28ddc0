/**
 * Where the spec comes from, in one shape for the app: a watched file (file.ts, one process) or
 * etcd's `P/spec` key watched by every gateway (etcd.ts, clustered mode). Either gives the spec to
 * serve at start, then every new valid spec, and says where it comes from for messages. What is
 * refused (invalid YAML, a spec compile() rejects) is reported and the old spec keeps serving.
 */
import type { Spec } from '../spec/index.js';

export interface SpecHandlers {
  /** A new valid spec; throwing rejects it (the old one keeps serving) and onReject is called. */
  onSpec(spec: Spec): void;
  /** A new spec was rejected: invalid (ConfigError with file:line) or not compilable. */
  onReject(err: Error): void;
}

export interface SpecSource {
  /** The spec to serve at start. */
  readonly spec: Spec;
  /** Where the spec comes from, for messages: the file path, or `etcd://host:port/prefix`. */
  readonly location: string;
  /** Follows the source from the start spec on (a change made meanwhile is not lost). */
  follow(handlers: SpecHandlers): void;
  /** Stops following. */
  stop(): Promise<void>;
}

/** The spec as stored in etcd and in a gateway's spec cache. */
export interface AppliedSpec {
  /** The YAML text exactly as applied. */
  yaml: string;
  /** sha256 of `yaml`, hex. */
  sha256: string;
  /** The etcd revision of the apply (the key's mod_revision). */
  revision: number;
  /** ISO time of the apply ('' when written by hand). */
  appliedAt: string;
  /** What was applied (the file name given to apply), for messages; '' when unknown. */
  source: string;
}
