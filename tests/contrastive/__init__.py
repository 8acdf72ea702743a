"""Tests of the contrastive family."""
