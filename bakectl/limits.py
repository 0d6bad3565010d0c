"""The bounds of a bakery, shared by its file (files.py) and the command-line options.

A module of its own, with no imports, because `bakectl --help` shows them and must start fast
(importing bakectl.model builds all its dataclasses: about 10 ms)."""

#: most ovens and mixers in one bakery, from a file or an option (`ovens: 10**9` must not
#: build a billion ovens)
MAX_OVENS = 1_000
MAX_MIXERS = 100_000
#: most cakes in one order, from a file or the library (an HTTP order has its own, lower cap)
MAX_QUANTITY = 100_000
