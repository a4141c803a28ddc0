import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraylaneError } from '../../src/errors.js';
import { ApiError } from '../../src/admin/server.js';
import { RegistryError } from '../../src/registry/registry.js';
import { RolloutError } from '../../src/rollout/errors.js';
import { StoreConflictError, StoreFencedError, StoreUnavailableError } from '../../src/store/types.js';

test('every catalogue extends the one error base: code, HTTP status, message, cause; the codes as they were', () => {
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:2379');
  const errors: [GraylaneError, string, number, string][] = [
    [new RolloutError('UNKNOWN_ROLLOUT', 'no rollout "x"'), 'UNKNOWN_ROLLOUT', 404, 'RolloutError'],
    [new RolloutError('ABORT_PENDING', 'waiting for the store'), 'ABORT_PENDING', 503, 'RolloutError'],
    [new StoreConflictError('rollout a', 3, 4), 'STORE_CONFLICT', 409, 'StoreConflictError'],
    [new StoreUnavailableError('commit rollout a', 'deadline exceeded', { cause }), 'STORE_UNAVAILABLE', 503, 'StoreUnavailableError'],
    [new StoreFencedError('/graylane/election/controller/x', 7), 'STORE_FENCED', 409, 'StoreFencedError'],
    [new RegistryError('unknown_service', 'service', 'no service "x"'), 'unknown_service', 400, 'RegistryError'],
    [new ApiError(404, 'not_found', 'no such route'), 'not_found', 404, 'ApiError'],
  ];
  for (const [err, code, status, name] of errors) {
    assert.ok(err instanceof GraylaneError && err instanceof Error, name);
    assert.deepEqual([err.code, err.status, err.name], [code, status, name]);
    assert.ok(err.message.length > 0);
  }
  assert.equal(errors[3]![0].cause, cause, 'the cause is kept');
  assert.equal((errors[0]![0] as RolloutError).httpStatus, 404, 'the older name of the status still answers');
});
