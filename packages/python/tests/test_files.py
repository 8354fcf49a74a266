"""Files against a real tidepool, binary content included."""

from __future__ import annotations

import pytest

from tidepool import NotFoundError, Sandbox


def test_binary_content_round_trips_byte_for_byte(sbx: Sandbox) -> None:
    data = bytes(range(256)) * 1024 + b"\x00\xff"
    entry = sbx.files.write("/tmp/bin/all-bytes", data)
    assert entry["size"] == len(data) and entry["type"] == "file"
    assert sbx.files.read("/tmp/bin/all-bytes", format="bytes") == data
    assert sbx.commands.run("sha256sum /tmp/bin/all-bytes | cut -c1-64")["stdout"].strip() == __import__("hashlib").sha256(data).hexdigest()


def test_text_list_rename_mkdir_remove(sbx: Sandbox) -> None:
    sbx.files.make_dir("/tmp/tree/sub")
    sbx.files.write("/tmp/tree/a.txt", "héllo\n")
    assert sbx.files.read("/tmp/tree/a.txt") == "héllo\n"
    assert sorted(e["name"] for e in sbx.files.list("/tmp/tree")) == ["a.txt", "sub"]
    moved = sbx.files.rename("/tmp/tree/a.txt", "/tmp/tree/sub/b.txt")
    assert moved["path"] == "/tmp/tree/sub/b.txt"
    assert sbx.files.exists("/tmp/tree/sub/b.txt") and not sbx.files.exists("/tmp/tree/a.txt")
    sbx.files.remove("/tmp/tree/sub/b.txt")
    assert not sbx.files.exists("/tmp/tree/sub/b.txt")


def test_reading_a_missing_file_raises_not_found(sbx: Sandbox) -> None:
    with pytest.raises(NotFoundError) as info:
        sbx.files.read("/tmp/no/such/file")
    assert info.value.code == "not_found" and info.value.status == 404
