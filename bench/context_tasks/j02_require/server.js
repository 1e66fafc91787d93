const { connect } = require('./db');

function open(url) {
  // gen: return connect(url) with the option retries set to 5
}

module.exports = { open };
