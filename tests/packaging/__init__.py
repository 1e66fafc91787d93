"""Tests of the packaging: the wheel, the bundled server."""
