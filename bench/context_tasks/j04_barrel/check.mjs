import assert from 'node:assert/strict';
import { pagePath } from './page.js';

assert.equal(pagePath(new Date(Date.UTC(2024, 0, 2)), 'Hello World'), '/2024-01-02/hello-world');
