"""The spool on disk: batches kept in order across restarts, numbers never used twice, one
collector per spool, refused batches set aside with their reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrail.recording.spool import Spool, SpoolError


def test_batches_come_out_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    seqs = [spool.append(f"line {i}\n".encode() * (i + 1), i + 1) for i in range(3)]
    assert seqs == [1, 2, 3]
    first = spool.oldest()
    assert first is not None and (first.seq, first.observations) == (1, 1)
    spool.acked(1)
    spool.close()

    again = Spool(tmp_path / "s", 1 << 20)
    assert again.stream == spool.stream
    assert again.counts() == (2, 5, len(b"line 1\n") * 2 + len(b"line 2\n") * 3)
    batch = again.oldest()
    assert batch is not None and batch.seq == 2 and batch.body == b"line 1\n" * 2
    assert again.append(b"x\n", 1) == 4


def test_a_number_acknowledged_is_never_used_again_even_once_the_spool_is_empty(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    for _ in range(2):
        spool.acked(spool.append(b"x\n", 1))
    assert spool.counts() == (0, 0, 0)
    spool.close()
    # The server remembers stream:2; a new batch numbered 1 or 2 would pass for a re-send.
    assert Spool(tmp_path / "s", 1 << 20).append(b"y\n", 1) == 3


def test_a_write_cut_short_by_a_crash_is_not_a_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    spool.append(b"x\n", 1)
    spool.close()
    (tmp_path / "s" / ".0000000000000002.jsonl.tmp").write_bytes(b'{"half')
    again = Spool(tmp_path / "s", 1 << 20)
    assert again.counts()[0] == 1
    assert not list((tmp_path / "s").glob(".*.tmp"))


def test_one_collector_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    with pytest.raises(SpoolError, match="in use by another vtrail record"):
        Spool(tmp_path / "s", 1 << 20)
    spool.close()
    Spool(tmp_path / "s", 1 << 20).close()


def test_full_at_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", 10)
    spool.append(b"123456789\n", 1)
    assert spool.full
    spool.acked(1)
    assert not spool.full


def test_a_refused_batch_is_set_aside_with_the_reason_and_its_number_kept(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s", 1 << 20)
    spool.append(b"bad\n", 1)
    spool.append(b"good\n", 1)
    kept = spool.quarantine(1, "422 line 1: not JSON")
    assert kept.read_bytes() == b"bad\n"
    assert kept.with_suffix(".why").read_text() == "422 line 1: not JSON\n"
    assert spool.quarantined() == [kept]
    nxt = spool.oldest()
    assert nxt is not None and nxt.seq == 2
    spool.acked(2)
    spool.close()
    assert Spool(tmp_path / "s", 1 << 20).append(b"z\n", 1) == 3


def test_a_spool_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match=r"cannot use spool .*file/s"):
        Spool(tmp_path / "file" / "s", 1 << 20)
    with pytest.raises(SpoolError, match="more than zero"):
        Spool(tmp_path / "s", 0)
