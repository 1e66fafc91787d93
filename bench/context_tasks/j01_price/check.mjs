import assert from 'node:assert/strict';
import { total } from './cart.js';

assert.equal(total([{ cents: 150 }, { cents: 100 }]), '2.50 EUR');
