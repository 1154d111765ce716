"""Grids: the grid sweeper, checking a grid without composing every job, and successive halving."""
