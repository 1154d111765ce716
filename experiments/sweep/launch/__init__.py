"""Launching jobs: the Hydra launcher, its pool of forked jobs, a job's own process, composing
a job's config fast, its returns and the progress line. Knows nothing of grids or searches."""
