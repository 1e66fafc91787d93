const assert = require('node:assert/strict');
const { open } = require('./server');

assert.deepEqual(open('db://x'), { url: 'db://x', retries: 5, open: true });
