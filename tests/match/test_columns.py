"""The matcher's row columns: strings in one UTF-8 buffer read back exactly, in any put order."""

from __future__ import annotations

from qinglang.match.columns import Strings


def test_strings_read_back_what_was_put() -> None:
    s = Strings()
    values = ["claim 一", "", "变体 variant 😀", None, "x" * 5000]
    for k, v in enumerate(values):  # one at a time, as a server publishes debunks
        s.put([k], [v])
    assert len(s) == len(values)
    assert [s[k] for k in range(len(values))] == values
    assert s.many([4, 0, 2, 3, 0]) == [values[4], values[0], values[2], None, values[0]]
    assert s[len(values)] is None and s[-1] is None  # never put: None, not another row's text


def test_strings_put_out_of_order_and_grow() -> None:
    s = Strings()
    keys = list(range(3000))[::-1]  # past the first allocation, highest key first
    s.put(keys, [f"row {k}" for k in keys])
    s.put([5000], ["far"])
    assert len(s) == 5001
    assert s[0] == "row 0" and s[2999] == "row 2999" and s[5000] == "far"
    assert s[4000] is None
    assert s.many(range(2995, 3002)) == [f"row {k}" for k in range(2995, 3000)] + [None, None]
