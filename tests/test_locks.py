"""Instance locks: one holder per network namespace, released on close."""

import pytest

from fastvrrp.locks import AlreadyRunning, claim, instance_lock_name


def test_second_claim_is_refused_and_releases_partial_claims():
    mine = instance_lock_name("em1", 4, 150)
    other = instance_lock_name("em1", 4, 151)
    held = claim([mine])
    try:
        with pytest.raises(AlreadyRunning, match="em1/ipv4/150"):
            claim([other, mine])
        second = claim([other])  # released by the failed claim above
        for sock in second:
            sock.close()
    finally:
        for sock in held:
            sock.close()
    for sock in claim([mine]):
        sock.close()
