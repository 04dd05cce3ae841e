"""Repository of video edits in the journal: one operation whose changes are file moves and new caption files.

A video edit (``loratui.datasets.video_edit``) is journaled with the two kinds of change the journal already
undoes, redoes and recovers (``history``): ``move`` (the new videos from the trash's staging folder into the
dataset, the original video and its caption into the trash) and ``caption`` (each new video's caption file,
which did not exist before). Plain functions on a ``sqlite3.Connection``; run them with ``await store.run``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Mapping

from loratui.jobs.procinfo import proc_key
from loratui.store import transaction


def start_video_operation(conn: sqlite3.Connection, dataset_id: int, kind: str, params: Mapping, description: str,
                          moves: list[tuple[str, str]], captions: list[tuple[str, str]]
                          ) -> tuple[int, list[sqlite3.Row], list[int]]:
    """Record a pending operation owned by this process: file moves (from, to; relative to the dataset) in order,
    then new caption files (path, text). Returns the operation id, the move change rows (id, path_before,
    path_after) and the caption change ids, each in the order given."""
    with transaction(conn):
        op_id = conn.execute(
            "INSERT INTO operations (dataset_id, kind, params, description, state, created_at, action, pid, "
            "proc_key) VALUES (?, ?, ?, ?, 'pending', ?, 'apply', ?, ?)",
            (dataset_id, kind, json.dumps(dict(params), sort_keys=True), description, time.time(), os.getpid(),
             proc_key(os.getpid())),
        ).lastrowid
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, path_after, state) "
            "VALUES (?, NULL, 'move', ?, ?, 'pending')", [(op_id, src, dst) for src, dst in moves])
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, text_before, text_after, state) "
            "VALUES (?, NULL, 'caption', ?, NULL, ?, 'pending')", [(op_id, rel, text) for rel, text in captions])
        move_rows = conn.execute("SELECT id, path_before, path_after FROM changes WHERE operation_id = ? "
                                 "AND kind = 'move' ORDER BY id", (op_id,)).fetchall()
        caption_ids = [r[0] for r in conn.execute("SELECT id FROM changes WHERE operation_id = ? AND kind = 'caption' "
                                                  "ORDER BY id", (op_id,))]
    return op_id, move_rows, caption_ids



def video_operations(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """A dataset's video edits: id, kind, description, state, discarded and the trash folder (from params)."""
    found = []
    for row in conn.execute("SELECT id, kind, description, state, discarded, params FROM operations "
                            "WHERE dataset_id = ? AND kind LIKE 'video-%' ORDER BY id", (dataset_id,)):
        try:
            folder = json.loads(row["params"]).get("folder")
        except (ValueError, AttributeError):
            folder = None
        found.append({"id": row["id"], "kind": row["kind"], "description": row["description"],
                      "state": row["state"], "discarded": bool(row["discarded"]), "folder": folder})
    return found
