"""Downloads against a local HTTP server on 127.0.0.1, never the internet."""

import hashlib

import pytest

from nn_core.download import DownloadError, download

BODY = b"IDX payload " * 5000
MD5 = hashlib.md5(BODY).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_success_writes_the_verified_file(tmp_path, mirror):
    mirror.files["f.gz"] = BODY
    path = download("f.gz", MD5, [mirror.url], tmp_path / "cache")
    assert path.read_bytes() == BODY
    assert leftovers(tmp_path / "cache") == ["f.gz"]


def test_md5_mismatch_leaves_nothing_in_the_cache(tmp_path, mirror):
    mirror.files["f.gz"] = BODY[:-1] + b"X"  # tampered
    with pytest.raises(DownloadError, match="MD5 .* does not match the published " + MD5):
        download("f.gz", MD5, [mirror.url], tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_broken_transfer_leaves_nothing(tmp_path, mirror):
    mirror.files["f.gz"] = BODY
    mirror.broken["f.gz"] = 1000
    with pytest.raises(DownloadError, match=r"f\.gz"):
        download("f.gz", MD5, [mirror.url], tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_falls_back_to_the_second_mirror(tmp_path, mirror, second_mirror):
    second_mirror.files["f.gz"] = BODY  # the first mirror answers 404
    path = download("f.gz", MD5, [mirror.url, second_mirror.url], tmp_path)
    assert path.read_bytes() == BODY
    assert mirror.requests == ["/data/f.gz"] and second_mirror.requests == ["/data/f.gz"]


def test_every_failure_is_reported(tmp_path, mirror):
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    with pytest.raises(DownloadError) as info:
        download("f.gz", MD5, [mirror.url, dead], tmp_path, timeout=5)
    message = str(info.value)
    assert "404" in message and "127.0.0.1:9" in message


def test_a_trickling_mirror_is_given_up_on_and_the_next_one_tried(tmp_path, mirror, second_mirror):
    import time

    mirror.files["f.gz"] = second_mirror.files["f.gz"] = BODY
    mirror.trickle["f.gz"] = 0.2  # a byte every 0.2 s: never a read timeout, never done
    started = time.monotonic()
    path = download("f.gz", MD5, [mirror.url, second_mirror.url], tmp_path, timeout=5, deadline=1)
    assert path.read_bytes() == BODY and time.monotonic() - started < 4
    assert leftovers(tmp_path) == ["f.gz"]


def test_a_mirror_too_slow_to_ever_finish_is_given_up_after_a_window_not_the_deadline(tmp_path, mirror, second_mirror):
    import time

    mirror.files["f.gz"] = second_mirror.files["f.gz"] = BODY
    mirror.trickle["f.gz"] = 0.05  # 20 bytes/s: BODY's 60,000 bytes would take 50 minutes
    started = time.monotonic()
    path = download("f.gz", MD5, [mirror.url, second_mirror.url], tmp_path, deadline=600, window=1)
    assert path.read_bytes() == BODY and time.monotonic() - started < 5
    assert leftovers(tmp_path) == ["f.gz"]
    with pytest.raises(DownloadError, match="too slow: .* bytes/s over 1 s"):
        download("f.gz", MD5, [mirror.url], tmp_path / "again", deadline=600, window=1)


def test_stale_part_files_of_killed_downloads_are_removed(tmp_path, mirror):
    import os

    mirror.files["f.gz"] = BODY
    (tmp_path / ".f.gz.abc123.part").write_bytes(b"half")
    os.utime(tmp_path / ".f.gz.abc123.part", (0, 0))  # long untouched: its download is dead
    (tmp_path / ".f.gz.new456.part").write_bytes(b"running")  # fresh: perhaps another process's
    download("f.gz", MD5, [mirror.url], tmp_path)
    assert leftovers(tmp_path) == [".f.gz.new456.part", "f.gz"]
