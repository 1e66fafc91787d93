function connect(url, { retries = 3 } = {}) {
  return { url, retries, open: true };
}

module.exports = { connect };
