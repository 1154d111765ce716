"""Running many configurations, in three rooms and the callback around them:

    checks.py, plan.py, summary.py  the Hydra callback (checks before, summary after) and the dry run's plan
    grid/     the grid sweeper, its checks and successive halving        (imports search/ for its pruners)
    search/   the Optuna search: settings, loop, trials, workers, study   (imports launch/)
    launch/   the launcher: its pool of forked jobs, each job's process   (imports neither)

Each imports only the rooms listed below it (docs/architecture.md). Optuna is imported inside
the functions that use it: Hydra imports these modules in its plugin scan for every command,
--help and a single run included, which would pay its 60 ms for nothing."""
