import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signApproval, verifyApproval, type ApprovalClaim } from './approval.js';

const claim: ApprovalClaim = { rollout: 'web-beta', attempt: 2, step: 3, action: 'promote', expires: 10_000, nonce: 'n-1' };

test('a link verifies with its key before it expires, and gives back its claim', () => {
  const v = verifyApproval(signApproval(claim, 'k'), 'k', 9_999);
  assert.deepEqual(v, { ok: true, claim });
});

test('expired, tampered, wrong key and malformed links are refused', () => {
  const token = signApproval(claim, 'k');
  assert.match((verifyApproval(token, 'k', 10_000) as { reason: string }).reason, /expired/);
  assert.match((verifyApproval(token, 'other', 1) as { reason: string }).reason, /not signed/);
  // The payload changed to another step, keeping the signature.
  const [, sig] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ r: 'web-beta', a: 2, s: 4, x: 'promote', e: 10_000, n: 'n-1' })).toString('base64url');
  assert.match((verifyApproval(`${forged}.${sig}`, 'k', 1) as { reason: string }).reason, /not signed/);
  // An abort link is not a promote link.
  const abort = signApproval({ ...claim, action: 'abort' }, 'k');
  assert.notEqual(abort, token);
  for (const bad of ['', '.', 'abc', `${token}.x`, 'a'.repeat(5000)]) assert.equal(verifyApproval(bad, 'k', 1).ok, false, bad.slice(0, 20));
});
