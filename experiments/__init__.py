"""Hydra entry points around nn_core: train, compare, bench."""
