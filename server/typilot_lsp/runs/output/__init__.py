"""The output filter: what of a model's reply lands in the buffer."""
