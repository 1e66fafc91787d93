import assert from 'node:assert/strict';
import { greeting } from './app.js';

assert.equal(greeting('Ada'), '[app] hello Ada');
