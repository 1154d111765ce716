"""The Optuna search: its settings, the ask-and-tell loop, trials and their seeds, SLURM
workers, the study's storage, the search space, the objectives and the warm start."""
