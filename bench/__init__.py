"""Chorus benchmark suite: `python -m bench.run` (what `make bench` runs)."""
