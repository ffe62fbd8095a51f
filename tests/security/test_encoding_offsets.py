"""A bad byte's offset counts from the start of the file, not from the current 1 MiB chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import BadFileError
from storage.readers import detect_encoding


@pytest.mark.parametrize("before", [10, (1 << 20) + 7, 3 * (1 << 20) - 1])
def test_the_offset_of_a_bad_byte_is_from_the_start_of_the_file(tmp_path: Path,
                                                                 before: int) -> None:
    good = "名".encode("gb18030")  # two bytes
    body = good * (before // 2) + b"a" * (before % 2)
    f = tmp_path / "bad.csv"
    f.write_bytes(body + b"\xff\xff" + good * 10)  # 0xFF is no lead byte in GB18030
    with pytest.raises(BadFileError) as e:
        detect_encoding(f)
    assert f"offset {len(body)}" in e.value.en
