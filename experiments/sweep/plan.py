"""What a dry run (dry_run=true) says a sweep would run: a grid's first and last jobs with their
folders and halving's rungs, or a search's space, study, sampler and pruner. The words for a
single run's plan are experiments/run/dry_run.py's."""

from __future__ import annotations

from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.run import dry_run
from experiments.sweep.grid.halving import configurations, plan_in_words, settings_of
from experiments.sweep.grid.sweeper import sweep_grid


def when(space, key: str) -> str:
    """A conditional key's condition, in words: ', when optimizer is momentum or nesterov'."""
    if key not in space.conditions:
        return ""
    parent, values = space.conditions[key]
    return f", when {parent} is {' or '.join(map(str, values))}"


def sweep_plan(config: DictConfig, sweep_dir: Path, search=None) -> list[str]:
    """What a dry run says a sweep would run: a grid's jobs (the first and last, each with its
    folder), or a search's trials, space and study (`search`: its settings, checked)."""
    if search is not None:
        storage = f"study {search.study_name!r} in {search.storage} (not opened)" if search.storage else "no storage"
        goals = ", ".join(f"{direction} {objective.name}" for objective, direction in search.objectives)
        return [
            f"a search of n_trials={search.n_trials} into {sweep_dir} to {goals}, sampler "
            f"{search.sampler_name}, pruner {search.pruner_said}; {storage}",
            *(
                f"{key}: {dry_run.distribution_in_words(dist)}{when(search.space, key)}"
                for key, dist in search.space.distributions.items()
            ),
            f"every trial: {dry_run.shown(search.fixed)}",
            *(f"queued first: {configuration}" for configuration in search.enqueue),
            *(f"warm start: the runs of {folder} that fit, as it starts" for folder in search.warm_folders),
            "every value at the edges of the space passes its checks",
        ]

    jobs = sweep_grid(config)
    launcher = config.hydra.runtime.choices.get("hydra/launcher")
    lines = [f"{len(jobs)} job(s) into {sweep_dir}, on hydra/launcher={launcher}"]
    for number in sorted({0, len(jobs) - 1}):
        job = GlobalHydra.instance().config_loader().load_sweep_config(config, jobs[number])
        with open_dict(job):
            job.hydra.job.num = number
        lines.append(f"job {number}: {dry_run.shown(jobs[number])} -> {job.hydra.sweep.dir}/{job.hydra.sweep.subdir}")
    pruner = OmegaConf.to_container(config.hydra.sweeper.get("pruner") or {}, resolve=True)
    if pruner.get("name") == "halving":
        settings = settings_of(pruner, jobs, config.epochs)
        lines.append(plan_in_words(len(configurations(jobs)), config.epochs, settings))
    return [*lines, "every job's config passes its checks"]
