"""Regression: a server and its workers starting together on one new SQLite file failed with
"database is locked": switching the file to WAL needs it to itself, and SQLite answers at
once instead of waiting, so a worker that connected while another process held the write
lock exited at start."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from api.store.tables import make_engine


def test_a_connection_waits_for_a_writer_before_switching_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    # Another process got there first and writes, before anything switched the file to WAL.
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("CREATE TABLE t (x INTEGER)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO t VALUES (1)")
    connecting = threading.Event()

    def finish_writing() -> None:
        connecting.wait(timeout=30)
        first.execute("COMMIT")

    writer = threading.Thread(target=finish_writing)
    writer.start()
    try:
        engine = make_engine(f"sqlite:///{path}")
        connecting.set()
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        connecting.set()
        writer.join(timeout=30)
        first.close()
