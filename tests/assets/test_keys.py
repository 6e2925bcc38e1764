"""Storage keys: what check_key accepts and what it refuses."""

import pytest

from moalab import MoaError
from moalab.assets import MAX_KEY_BYTES, check_key, is_key
from moalab.core.errors import InvalidArgument

BAD_KEYS = {
    "empty": "",
    "absolute": "/etc/passwd",
    "parent": "../outside",
    "parent inside": "a/../../b",
    "dot part": "a/./b",
    "empty part": "a//b",
    "trailing slash": "a/b/",
    "backslash": "a\\..\\b",
    "NUL": "a\0b",
    "too long": "a" * (MAX_KEY_BYTES + 1),
    "lone surrogate": "a\udc80",
}


@pytest.mark.parametrize("key", ["a", "cached/1f2e.wav", "sub/ject/é ü.txt", ".hidden/x",
                                 "a..b/c", "x" * MAX_KEY_BYTES])
def test_good_keys_are_returned(key):
    assert check_key(key) == key and is_key(key)


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_keys_are_refused_with_what_is_accepted(key):
    with pytest.raises(InvalidArgument, match="a key is a relative POSIX path") as raised:
        check_key(key)
    assert isinstance(raised.value, MoaError) and not is_key(key)
    if len(key) < 50:
        assert repr(key) in str(raised.value)


def test_a_key_that_is_not_a_string_is_refused():
    with pytest.raises(InvalidArgument, match="is a bytes"):
        check_key(b"a/b")
