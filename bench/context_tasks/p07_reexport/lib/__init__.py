from .core import tokenize
