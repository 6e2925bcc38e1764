import resource
import sys

import pytest

from moalab.core.memory import keep_large_buffers


def _page_faults_copying(size: int, times: int) -> int:
    data = bytes(range(256)) * (size // 256)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        # two new buffers alive at once, freed together (a received chunk and the frame
        # joined from it, say): untuned, glibc gives the memory back to the system
        # each time and the next buffers fault their pages in again
        copies = [bytearray(data), bytearray(data)]
        del copies
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_large_buffers_are_reused_without_page_faults():
    assert keep_large_buffers() is True
    assert keep_large_buffers() is True  # again: nothing changes
    # untuned: about 256 faults a buffer, 48,000 in all (measured)
    faults = _page_faults_copying(1 << 20, 100)
    assert faults < 2_000, f"{faults} page faults copying 100 MiB through 1 MiB buffers"
