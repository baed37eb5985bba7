// The front end's SHA-256 and proof-of-work solver (web/assets/js/sha256.js), checked against
// node's crypto. Runs in node: the module has no browser dependencies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { sha256, leadingZeroBits, solveChallenge } from '../../web/assets/js/sha256.js';

test('sha256 matches node crypto across padding boundaries', () => {
  const inputs = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 1000].map((n) => randomBytes(n));
  inputs.push(Buffer.from('abc'));
  for (const input of inputs) {
    assert.equal(Buffer.from(sha256(new Uint8Array(input))).toString('hex'), createHash('sha256').update(input).digest('hex'), `length ${input.length}`);
  }
});

test('leadingZeroBits counts bits, not bytes', () => {
  assert.equal(leadingZeroBits(new Uint8Array([0x00, 0x00, 0x80])), 16);
  assert.equal(leadingZeroBits(new Uint8Array([0x00, 0x1f])), 11);
  assert.equal(leadingZeroBits(new Uint8Array([0xff])), 0);
  assert.equal(leadingZeroBits(new Uint8Array([0, 0])), 16);
});

test('solveChallenge finds a nonce that the server-side check accepts', () => {
  const challenge = randomBytes(8).toString('hex');
  const nonce = solveChallenge(challenge, 12);
  const digest = createHash('sha256').update(challenge + nonce).digest();
  assert.ok(leadingZeroBits(digest) >= 12);
  assert.match(nonce, /^\d+$/);
});
