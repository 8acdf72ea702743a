"""Naive float64 reference implementations shared by tests and benchmarks (one module per
family). They are written from the papers, loop-heavy on purpose, and never import visionloss."""
