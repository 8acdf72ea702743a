"""Multi-process tests (gloo backend, CPU)."""
