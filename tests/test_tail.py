"""Following a file: partial lines, truncation, rewrites, vanished files, huge lines."""

from __future__ import annotations

import os

from rltop.core.tail import FileTail


def test_half_written_line_waits_for_newline(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": ')
    tail = FileTail(str(path))
    got = tail.read_lines()
    assert got.block == b'{"step": 1}\n' and got.first_line == 1
    assert tail.read_lines().block == b""
    with open(path, "ab") as fh:
        fh.write(b"2}\n")
    got = tail.read_lines()
    assert got.block == b'{"step": 2}\n' and got.first_line == 2 and not got.reset


def test_reads_only_new_bytes(tmp_path):
    path = tmp_path / "a.log"
    path.write_bytes(b"one\n")
    tail = FileTail(str(path))
    assert tail.read_lines().block == b"one\n"
    with open(path, "ab") as fh:
        fh.write(b"two\nthree\n")
    got = tail.read_lines()
    assert got.block == b"two\nthree\n" and got.first_line == 2


def test_truncated_file_is_read_again(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"line one\nline two\n")
    tail = FileTail(str(path))
    tail.read_lines()
    path.write_bytes(b"new\n")
    got = tail.read_lines()
    assert got.reset and got.block == b"new\n" and got.first_line == 1


def test_rewritten_longer_file_is_detected_by_its_head(tmp_path):
    # verl's FileLogger reopens with "wb" on restart: the new file may already be longer
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"step": 1, "a": 1}\n')
    tail = FileTail(str(path))
    tail.read_lines()
    path.write_bytes(b'{"step": 1, "a": 9}\n{"step": 2, "a": 8}\n{"step": 3, "a": 7}\n')
    got = tail.read_lines()
    assert got.reset and got.block.count(b"\n") == 3


def test_replaced_file_new_inode(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"aaaa\n")
    tail = FileTail(str(path))
    tail.read_lines()
    os.remove(path)
    got = tail.read_lines()
    assert got.ended
    path.write_bytes(b"aaaa\nbbbb\n")
    got = tail.read_lines()
    assert got.reset and got.block == b"aaaa\nbbbb\n"


def test_huge_line_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"ok1\n" + b"x" * 5000 + b"\nok2\n")
    tail = FileTail(str(path), max_line=1000, chunk=700)
    blocks, skips = [], []
    for _ in range(20):
        got = tail.read_lines()
        blocks.append(got.block)
        skips.extend(got.skips)
        if not got.more and not got.block:
            break
    data = b"".join(blocks)
    assert b"ok1\n" in data and b"ok2\n" in data and b"xxxx" not in data
    assert len(skips) == 1 and "limit" in skips[0].reason


def test_permission_denied_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x\n")
    path.chmod(0)
    tail = FileTail(str(path))
    got = tail.read_lines()
    if os.geteuid() == 0:  # root reads anything: nothing to test here but no crash
        assert got.error is None
    else:
        assert got.error


def test_large_reads_end_at_a_line_end(tmp_path):
    """A large read that stops short of the end ends at a newline: nothing is left waiting (the
    block is the bytes read, not a copy cut at the last newline), and the lines are all there."""
    from rltop.core.tail import LINE_END_PROBE

    path = tmp_path / "m.jsonl"
    lines = [f'{{"step": {i}, "loss": {1 / i!r}}}\n' for i in range(1, 60001)]
    path.write_text("".join(lines))
    tail = FileTail(str(path), chunk=8 * LINE_END_PROBE)
    got, reads = [], 0
    while True:
        out = tail.read_lines()
        reads += 1
        assert out.block.endswith(b"\n") and tail.partial == b""
        got.append(out.block)
        if not out.more:
            break
    assert reads > 3
    assert b"".join(got).decode() == "".join(lines)
