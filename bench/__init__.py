"""Typilot LSP's benchmarks. Each script runs from the repository root as a module:

    .venv/bin/python -m bench.bench_core [--quick]

It imports the server (``typilot_lsp``) as installed in the environment (``pip install -e .``
measures this clone), the tests' helpers as ``tests.…`` and its sibling scripts as
``bench.…``. Each script prints its figures; nothing is asserted (speed is not a test), and
``tests/bench`` checks that each one keeps working. The figures go in docs/performance.md,
docs/quality.md and docs/reliability.md, each with the command that measures it.
"""
