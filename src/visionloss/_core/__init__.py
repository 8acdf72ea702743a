"""Private machinery shared by every loss family (reductions, checks, registry, Module base)."""
