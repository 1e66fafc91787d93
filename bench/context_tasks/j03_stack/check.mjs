import assert from 'node:assert/strict';
import { reverse } from './reverse.js';

assert.deepEqual(reverse([1, 2, 3]), [3, 2, 1]);
assert.deepEqual(reverse([]), []);
