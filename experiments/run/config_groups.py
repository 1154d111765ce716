"""The `optimizer` and `schedule` config groups, made from nn_core's registries.

Each registry entry becomes one option of its group, holding its name and its
settings' defaults, so `optimizer=adam optimizer.beta1=0.8` works and a setting
the chosen option does not take is refused by Hydra. Imported before any config
is composed (experiments.train, and the tests that compose in-process).
Also registers the resolvers that conf/config.yaml uses: `keys_help` (--help lists
every key) and `not_hyperparameters` (left out of run folders' names).
"""

import re
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from experiments.run.config_rules import GROUPS, NOT_HYPERPARAMETERS, RULES


def config_dir() -> Path:
    """The Hydra configs: conf/ inside the experiments package where it was installed from a
    wheel, else conf/ beside it (a checkout, or an editable install of one)."""
    package = Path(__file__).resolve().parents[1]
    return next(d for d in (package / "conf", package.parent / "conf") if (d / "config.yaml").is_file())


def register() -> None:
    """Store every registry entry as an option of its group (again after a registry changed)."""
    for group, registry in GROUPS.items():
        for name, entry in registry.items():
            ConfigStore.instance().store(group=group, name=name, node={"name": name, **entry.defaults()})


register()


def _comments(path: Path) -> dict:
    """{dotted key: its comment} from a YAML file's `key: value  # comment` lines."""
    comments, parents = {}, []
    for line in path.read_text().splitlines():
        found = re.match(r"^(\s*)([A-Za-z_]\w*):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if not found or line.lstrip().startswith("#"):
            continue
        indent, key, value, comment = len(found[1]), found[2], found[3], found[4]
        parents = [(i, k) for i, k in parents if i < indent]
        dotted = ".".join([k for _, k in parents] + [key])
        if comment:
            comments[dotted] = comment
        if not value:
            parents.append((indent, key))
    return comments


def keys_help() -> str:
    """Every key: its meaning (the config files' comments, the registries' docs)
    and what it allows (the config rules): one source for each, printed by --help."""
    conf = config_dir()
    meanings = _comments(conf / "config.yaml")
    meanings["data.name"] = "the data set, chosen as a config group: data=NAME"
    for data_file in sorted((conf / "data").glob("*.yaml"), key=lambda f: f.stem != "mnist"):  # mnist's words first
        for key, comment in _comments(data_file).items():
            meanings.setdefault(f"data.{key}", comment)
    for logger_file in sorted((conf / "logger").glob("*.yaml")):  # their keys sit under logger.<name>
        meanings.update({f"logger.{key}": comment for key, comment in _comments(logger_file).items()})
    rows = [(key, [meanings.get(key, ""), f"allowed: {rule}"]) for key, rule in RULES.items()]
    for group, registry in GROUPS.items():
        for name, entry in registry.items():
            rows.append((f"{group}={name}", [entry.doc]))
            for setting, spec in entry.settings.items():
                rows.append((f"  {group}.{setting}", [f"{spec.doc} (default {spec.default}); allowed: {spec.allowed}"]))
    return help_columns(rows).replace("$", "$$")  # the help template is a string.Template


def help_columns(rows: list[tuple[str, list[str]]]) -> str:
    """Each key in a column as wide as the longest, and its lines wrapped to the terminal beside it."""
    import shutil
    import textwrap

    width = max(len(key) for key, _ in rows) + 2
    text_width = max(40, shutil.get_terminal_size((100, 24)).columns - width - 3)
    lines = []
    for key, texts in rows:
        wrapped = [line for text in texts for line in (textwrap.wrap(text, text_width) or [""])]
        lines += [f"  {key if i == 0 else '':<{width}} {line}".rstrip() for i, line in enumerate(wrapped)]
    return "\n".join(lines)


def folder_name(override_dirname: str) -> str:
    """A job's overrides as its folder's name, each float a search drew (17 significant digits:
    lr=0.012345678901234567) written with 6 (lr=0.0123457). The run itself uses the exact value;
    values typed by hand (under 10 significant digits) are left as typed, so that a grid's folders
    are named as before and its resume finds them."""
    import re

    def shorter(number: re.Match) -> str:
        text = number.group()
        mantissa = text.lower().split("e")[0]
        significant = mantissa.lstrip("-").replace(".", "").lstrip("0")
        return f"{float(text):.6g}" if len(significant) >= 10 else text

    return re.sub(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])", shorter, override_dirname)


OmegaConf.register_new_resolver("keys_help", keys_help, replace=True)
OmegaConf.register_new_resolver("folder_name", folder_name, replace=True)
OmegaConf.register_new_resolver("not_hyperparameters", lambda *more: [*NOT_HYPERPARAMETERS, *more], replace=True)
