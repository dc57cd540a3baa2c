"""The one worker-pool recipe (r2bench.workers): order, errors and early stops."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from r2bench.errors import DatasetError
from r2bench.workers import imap, imap_unordered, resolve_workers


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise DatasetError(f"item{x}", "bad item")
    return x


def _mark(path: str) -> str:
    Path(path).touch()
    time.sleep(0.05)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_imap_keeps_item_order_whatever_the_workers(workers):
    items = list(range(23))
    assert list(imap(_square, items, workers, in_flight=3)) == [x * x for x in items]


@pytest.mark.parametrize("workers", [1, 2])
def test_imap_unordered_gives_each_index_once_with_its_result(workers):
    items = list(range(17))
    got = dict(imap_unordered(_square, items, workers))
    assert got == {i: i * i for i in items}


@pytest.mark.parametrize("mapper", [imap, imap_unordered])
def test_a_worker_error_reaches_the_caller_whole(mapper):
    with pytest.raises(DatasetError) as e:
        list(mapper(_fail_on_three, list(range(8)), 2))
    assert str(e.value) == "item3: bad item"


@pytest.mark.parametrize("mapper", [imap, imap_unordered])
def test_stopping_early_cancels_the_tasks_not_started(mapper, tmp_path):
    paths = [os.fspath(tmp_path / f"{i}") for i in range(200)]
    for _ in mapper(_mark, paths, 2):
        break
    assert len(list(tmp_path.iterdir())) < 50


def test_resolve_workers():
    assert resolve_workers(3) == 3 and resolve_workers(None) >= 1
