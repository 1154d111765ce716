"""Fetch a file from a list of mirrors, checked against its published MD5.

The file is streamed into a temporary file next to its destination and only
renamed into place once its MD5 matches, so an interrupted, broken or
tampered download never leaves a file that passes for complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

_CHUNK = 1 << 16
STALE_PART_S = 3600  # longer than any download may take (deadline x mirrors): a .part this old is a dead one


class DownloadError(OSError):
    """Every mirror failed; the message lists what went wrong at each."""


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_one(url: str, destination: Path, md5: str, timeout: float, deadline: float, window: float) -> None:
    """Download url to destination via a temporary file; raise OSError on any
    failure, including taking longer than `deadline` seconds in all, or, over
    any `window` seconds, coming at a rate that cannot finish the declared size
    by the deadline (a mirror that trickles a byte every few seconds never trips
    the per-read `timeout`, and is given up in about a window, not the deadline)."""
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        digest = hashlib.md5()
        received = 0
        started = time.monotonic()
        give_up = started + deadline
        window_start, window_received = started, 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read1(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                now = time.monotonic()
                if now > give_up:
                    raise TimeoutError(f"gave up after {deadline:g} s with {received} bytes received")
                if now - window_start >= window:
                    rate = (received - window_received) / (now - window_start)
                    needed = (int(declared) - received) / (give_up - now) if declared is not None else 0
                    if rate < needed:
                        raise TimeoutError(
                            f"too slow: {rate:.0f} bytes/s over {now - window_start:.0f} s, where the "
                            f"{int(declared) - received} bytes left need {needed:.0f} bytes/s to arrive "
                            f"within the {deadline:g} s a file may take"
                        )
                    window_start, window_received = now, received
        if declared is not None and received != int(declared):
            raise OSError(f"transfer broke off after {received} of {declared} bytes")
        if digest.hexdigest() != md5:
            raise OSError(f"MD5 {digest.hexdigest()} does not match the published {md5}")
        os.replace(tmp_name, destination)
    except BaseException:
        # Also on Ctrl-C: the partial file must not survive.
        Path(tmp_name).unlink(missing_ok=True)
        raise


def remove_stale_parts(root: Path, older_than_s: float = STALE_PART_S) -> None:
    """Delete .part files that a killed download left behind (SIGKILL skips every cleanup)."""
    for part in root.glob(".*.part"):
        try:
            if time.time() - part.stat().st_mtime > older_than_s:
                part.unlink()
        except OSError:
            pass  # another process's, or already gone


def download(
    filename: str, md5: str, mirrors: list[str], root: str | Path,
    timeout: float = 30.0, deadline: float = 600.0, window: float = 10.0,
) -> Path:  # fmt: skip
    """Fetch `filename` into `root`, trying each mirror URL prefix in turn.

    timeout : seconds one read may wait; deadline : seconds one file may take
    from one mirror before the next is tried; window : seconds over which a
    mirror's rate is judged (too slow to finish by the deadline: the next is tried).
    Returns the path of the verified file. Raises DownloadError listing the
    failure at every mirror when none delivers a file with the right MD5.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(root)
    destination = root / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch_one(url, destination, md5, timeout, deadline, window)
            return destination
        except (OSError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url}: {e}")
    raise DownloadError(f"could not download {filename}:\n  " + "\n  ".join(failures))
