"""HDFS: files written over WebHDFS (as the lander and the batch jobs do) come back exactly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from websessions.clients.hdfs import webhdfs


@pytest.fixture
def scratch_dir(stack) -> Iterator[str]:
    """A unique HDFS directory for one test, removed afterwards."""
    settings = stack("hdfs")
    path = f"/tmp/test-hdfs-{uuid.uuid4().hex[:12]}"
    client = webhdfs(settings)
    client.makedirs(path)
    yield path
    client.delete(path, recursive=True)


def test_the_raw_events_and_warehouse_directories_exist(stack) -> None:
    settings = stack("hdfs")
    client = webhdfs(settings)
    for path in (settings.raw_events_dir, settings.warehouse_dir):
        assert client.status(path)["type"] == "DIRECTORY"


def test_a_file_is_written_listed_and_read_back_exactly(stack, scratch_dir: str) -> None:
    settings = stack("hdfs")
    client = webhdfs(settings)
    text = "".join(
        f'{{"event_time": "2026-11-20T10:15:{i % 60:02d}.123Z", "url": "/p/{i}/ünï"}}\n' for i in range(2000)
    )
    client.write(f"{scratch_dir}/events.jsonl", data=text.encode(), overwrite=False)

    assert client.list(scratch_dir) == ["events.jsonl"]
    status = client.status(f"{scratch_dir}/events.jsonl")
    assert status["length"] == len(text.encode())
    assert status["owner"] == settings.hdfs_user
    assert status["replication"] == 1
    with client.read(f"{scratch_dir}/events.jsonl", encoding="utf-8") as reader:
        assert reader.read() == text


def test_a_file_larger_than_one_block_round_trips(stack, scratch_dir: str) -> None:
    client = webhdfs(stack("hdfs"))
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = f"{scratch_dir}/blob.bin"
    client.write(path, data=data, blocksize=1024 * 1024)
    assert client.status(path)["length"] == len(data)
    with client.read(path) as reader:
        assert reader.read() == data


def test_appending_to_a_file_keeps_the_earlier_content(stack, scratch_dir: str) -> None:
    client = webhdfs(stack("hdfs"))
    path = f"{scratch_dir}/appended.txt"
    client.write(path, data=b"first\n")
    client.write(path, data=b"second\n", append=True)
    with client.read(path) as reader:
        assert reader.read() == b"first\nsecond\n"
