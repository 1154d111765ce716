"""The experiment runner around nn_core, in three rooms and three commands.

run/       running one configuration: the Hydra task (task.py), its files
           (files.py), the config rules and groups, stop signals, and the checks
           before a run starts (checks.py)
sweep/     running many: the default launcher (launcher.py), the Optuna search,
           and the checks and summary around a sweep (checks.py)
results/   reading what runs wrote: finding, loading, grouping and ranking runs
           (runs.py), figures (figures.py), the HTML page (report.py), a look
           inside one trained network (inspection.py)

python -m experiments.train     train.py: the process's entry, its signals and exit codes
python -m experiments.compare   compare.py: the command line over results/
python -m experiments.inspect   inspect.py: the command line over results/inspection.py
"""
