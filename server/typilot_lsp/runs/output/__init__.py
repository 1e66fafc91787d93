"""The output filter: what of a model's reply lands in the buffer (see `filter.py`)."""

from typilot_lsp.runs.output.filter import OutputFilter
from typilot_lsp.runs.output.reasons import NothingLanded
from typilot_lsp.runs.output.spec import OutputSpec, output_spec_for

__all__ = ["NothingLanded", "OutputFilter", "OutputSpec", "output_spec_for"]
