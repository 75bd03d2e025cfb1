"""The login throttle: three free failures, then a doubling wait, a lockout after ten, and a clean slate on success."""

from __future__ import annotations

from lead_engine.core.login_throttle import LOCKOUT, LoginThrottle, throttle_keys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_make_the_next_attempt_wait_longer_and_longer() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle_keys("anna", "10.0.0.7")
    waits = []
    for _ in range(9):
        assert throttle.failed(keys) == []
        waits.append(throttle.wait_seconds(keys))
        clock.now += waits[-1]
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60]


def test_ten_failures_lock_out_for_a_quarter_hour_and_say_so_once() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    keys = throttle_keys("", "10.0.0.7")
    locked = []
    for _ in range(10):
        clock.now += throttle.wait_seconds(keys)
        locked += throttle.failed(keys)
    assert locked == ["name:(shared)", "client:10.0.0.7"]
    assert throttle.wait_seconds(keys) == LOCKOUT
    assert throttle.wait_seconds(throttle_keys("", "10.0.0.8")) == LOCKOUT  # the name is locked for everyone
    assert throttle.wait_seconds(throttle_keys("bob", "10.0.0.7")) == LOCKOUT  # and the client for every name
    assert throttle.wait_seconds(throttle_keys("bob", "10.0.0.8")) == 0
    clock.now += LOCKOUT
    assert throttle.wait_seconds(keys) == 0


def test_a_correct_login_clears_the_failures() -> None:
    throttle = LoginThrottle(Clock())
    keys = throttle_keys("anna", None)
    for _ in range(3):
        throttle.failed(keys)
    assert throttle.wait_seconds(keys) == 1
    throttle.succeeded(keys)
    assert throttle.wait_seconds(keys) == 0
