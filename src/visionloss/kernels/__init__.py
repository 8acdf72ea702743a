"""Triton kernels, their launchers and autograd wrappers (one file per kernel family)."""
