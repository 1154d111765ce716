"""dry_run=true: a run or sweep checked as it would be before it starts (its config, every
job's, the search space's edges), then what would run said on stdout, and nothing run,
downloaded or written. A refusal is the same refusal as without it (exit 2); a dry run that
passes exits 0. The sweep's part is experiments/sweep/plan.py's; the words are here."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from experiments.run import exits


def data_whereabouts(data: dict) -> str:
    """Where a run would find its data set (data: its `data` config as a dict), looked up
    without downloading anything."""
    from nn_core.idx_sets import IDX_SOURCES, default_mirrors, falls_back, found_idx_folder

    options = dict(data)
    name = options.pop("name")
    source = IDX_SOURCES.get(name)
    if source is None:
        return f"data {name}: loaded by nn_core as the run starts, nothing to download"
    if not source.mirrors:
        return f"data {name}: shipped in the package"
    folder = found_idx_folder(source, options.get("root"))
    if folder is not None:
        return f"data {name}: its four IDX files are in {folder}"
    if options.get("root") is not None and options.get("mirrors") is None:
        return f"data {name}: data.root={options['root']} lacks its IDX files; the run would stop there"
    mirrors = options.get("mirrors") or list(default_mirrors(source))
    fallback = ", or train on the bundled sample if none answers" if name == "mnist" and falls_back(**options) else ""
    more = f" (or {len(mirrors) - 1} more)" if len(mirrors) > 1 else ""
    return f"data {name}: not on this machine; the run would download it from {mirrors[0]}{more}{fallback}"


def say_and_stop(lines: list[str]) -> NoReturn:
    """Print what would run, and end the command: exit 0, nothing started."""
    print("dry run (dry_run=true): checked, nothing run or written")
    for line in lines:
        print(f"  {line}")
    raise SystemExit(exits.ExitCode.OK)


def shown(overrides) -> str:
    """A job's overrides as the plan shows them: without dry_run=true, which the real launch lacks."""
    return " ".join(o for o in overrides if not o.lstrip("+~").startswith("dry_run=")) or "(none)"


def distribution_in_words(dist) -> str:
    """An Optuna distribution as a reader says it: 'a float in [0.01, 2.0], log scale', 'one of 32, 64'."""
    if hasattr(dist, "choices"):
        return "one of " + ", ".join(map(str, dist.choices))
    kind = "an integer" if type(dist).__name__.startswith("Int") else "a float"
    return f"{kind} in [{dist.low}, {dist.high}]" + (", log scale" if dist.log else "")


def single_run(run_dir: Path, data: dict, resume: bool) -> NoReturn:
    what = f"resume the run in {run_dir}" if resume else f"one run into {run_dir}"
    say_and_stop([what, "its config passes every check", data_whereabouts(data)])
