// Web Worker that solves the waiting room's proof-of-work off the main thread.
// In: { challenge, bits }. Out: { progress: tried } now and then, then { nonce }.

import { solveChallenge } from './sha256.js';

self.onmessage = (e) => {
  const { challenge, bits } = e.data;
  const nonce = solveChallenge(challenge, bits, { onProgress: (tried) => self.postMessage({ progress: tried }) });
  self.postMessage({ nonce });
};
