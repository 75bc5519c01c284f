"""The frames between the parent and a worker, over real pipes, in one process."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from local_cloud.lambda_runtime.bootstrap import encode_frame, read_frame, write_frame
from local_cloud.lambda_runtime.worker import DeadlineExceeded, WorkerGone, read_frame_until


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):  # the test may have closed it
            os.close(fd)


def test_a_frame_round_trips(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    message = {"type": "invoke", "event": {"body": "é" * 10}, "deadline_ms": 1}

    write_frame(write_end, message)

    assert read_frame(read_end) == message


def test_the_parent_reads_a_frame_before_its_deadline(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    write_frame(write_end, {"type": "result"})

    assert read_frame_until(read_end, time.monotonic() + 5) == {"type": "result"}


def test_a_silent_worker_exceeds_the_deadline(pipe: tuple[int, int]) -> None:
    read_end, _ = pipe

    with pytest.raises(DeadlineExceeded):
        read_frame_until(read_end, time.monotonic() + 0.05)


def test_half_a_frame_then_silence_still_exceeds_the_deadline(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, encode_frame({"type": "result"})[:6])

    with pytest.raises(DeadlineExceeded):
        read_frame_until(read_end, time.monotonic() + 0.05)


def test_a_closed_pipe_means_the_worker_is_gone(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(write_end)

    with pytest.raises(WorkerGone):
        read_frame_until(read_end, time.monotonic() + 5)


def test_the_worker_sees_a_closed_request_pipe_as_shutdown(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(write_end)

    assert read_frame(read_end) is None


def test_a_frame_cut_short_is_an_error_not_a_shutdown(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, encode_frame({"type": "invoke"})[:7])
    os.close(write_end)

    with pytest.raises(EOFError):
        read_frame(read_end)
