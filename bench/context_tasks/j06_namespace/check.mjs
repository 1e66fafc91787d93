import assert from 'node:assert/strict';
import { farthest } from './far.js';

assert.deepEqual(farthest([{ x: 1, y: 1 }, { x: 3, y: 4 }, { x: 0, y: 2 }]), { x: 3, y: 4 });
