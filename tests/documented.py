"""The code blocks of the README and docs/, read once for the tests that check them
(test_docs.py: every documented command passes the checks it would meet) and run them
(test_walkthrough.py: every block executed in order on a fresh folder)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from helpers import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PROGRAMS = ("python -m experiments.", ".venv/bin/python -m experiments.", "mnist-train", "mnist-compare")


@dataclass
class Block:
    """One fenced code block: where it starts (README.md:36), its language tag ("bash",
    "python", "" for output) and its lines."""

    where: str
    language: str
    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    indented: bool = False  # in a list item: a fragment of the text around it, not a whole program

    @property
    def shell(self) -> bool:
        return self.language in ("bash", "sh", "console")

    def commands(self) -> list[Command]:
        """The block's command lines: in a shell block every line but comments, in an
        output block those after a prompt `$ `; continuation lines joined, the prompt
        taken off. A command whose next line says "invalid ..." is shown being refused."""
        found, pending, start = [], "", 0
        doc = self.where.rsplit(":", 1)[0]
        for index, (number, line) in enumerate(self.lines):
            text = line.strip()
            if not pending:
                if not self.shell and not text.startswith("$ "):
                    continue
                text = text.removeprefix("$ ")
                if not text or text.startswith("#"):
                    continue
                start = number
            else:
                text = pending + " " + text
            if text.endswith("\\"):
                pending = text[:-1].strip()
                continue
            pending = ""
            following = self.lines[index + 1][1] if index + 1 < len(self.lines) else ""
            found.append(Command(f"{doc}:{start}", text, refused="invalid" in following and not self.shell))
        return found


@dataclass
class Command:
    where: str
    text: str  # as written, a trailing `# comment` included
    refused: bool = False  # the docs show it being refused

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text, comments=True)

    @property
    def line(self) -> str:
        """The command without its comment, each word quoted as the shell needs."""
        return " ".join(map(shlex.quote, self.words))

    @property
    def ours(self) -> bool:
        """One of this project's commands (python -m experiments.X, mnist-train, mnist-compare)."""
        return self.line.startswith(PROGRAMS)


def code_blocks() -> list[Block]:
    """Every fenced block of the README, then of docs/*.md, in reading order."""
    blocks = []
    for doc in DOCS:
        block = None
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            if line.lstrip().startswith("```"):
                if block is None:
                    block = Block(
                        f"{doc.relative_to(REPO)}:{number}", line.lstrip()[3:].strip(), indented=line[0] == " "
                    )
                else:
                    blocks.append(block)
                    block = None
            elif block is not None:
                block.lines.append((number, line))
    return blocks


def documented_commands() -> list[Command]:
    """This project's commands in the blocks, in reading order."""
    return [command for block in code_blocks() for command in block.commands() if command.ours]
