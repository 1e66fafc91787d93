import assert from 'node:assert/strict';
import { canSignUp } from './signup.js';

assert.equal(canSignUp({ email: 'a@b.io', password: '12345678' }), true);
assert.equal(canSignUp({ email: 'nope', password: '12345678' }), false);
