from __future__ import annotations

from pathlib import Path

from app.sink.dryrun import PartWriter, assemble, comment_for, part_path
from app.undo.sqlgen import Statement


def _st(sql: str, params: tuple[object, ...], kind: str, a: int, b: int) -> Statement:
    return Statement(sql, params, kind, 1, a, b)  # type: ignore[arg-type]


def test_parts_then_assembled_in_phase_order(tmp_path: Path) -> None:
    d = tmp_path / "sql"
    del1 = _st("DELETE FROM `d`.`t` WHERE `u` IN (%s)", ("x'y",), "delete", 5, 9)
    ins1 = _st("INSERT INTO `d`.`t` (`u`,`b`) VALUES (%s,%s)", ("a", b"\x00\xff"), "insert", 5, 9)
    rep0 = _st("REPLACE INTO `d`.`p` (`id`) VALUES (%s)", (7,), "replace", 3, 4)
    w1 = PartWriter(d, 1)
    w1.add(0, comment_for("d", "t", "12", del1), del1)
    w1.add(1, comment_for("d", "t", "12", ins1), ins1)
    w1.close()
    w0 = PartWriter(d, 0)
    w0.add(0, comment_for("d", "p", "7", rep0), rep0)
    w0.close()
    assert part_path(d, 0, 1).read_text() == ""
    out = assemble(d, "job", 3, ["SET SESSION foreign_key_checks = 0"])
    assert out == d / "job.sql"
    assert out.read_text().splitlines() == [
        "-- tiundo undo of job job: review, then apply with the mysql client",
        "SET SESSION foreign_key_checks = 0;",
        "BEGIN;",
        "-- phase 0",
        "-- d.p replace handle=7 commit_ts 3..4",
        "REPLACE INTO `d`.`p` (`id`) VALUES (7);",
        "-- d.t delete handle=12 commit_ts 5..9",
        "DELETE FROM `d`.`t` WHERE `u` IN ('x\\'y');",
        "-- phase 1",
        "-- d.t insert handle=12 commit_ts 5..9",
        "INSERT INTO `d`.`t` (`u`,`b`) VALUES ('a',X'00FF');",
        "COMMIT;",
    ]


def test_a_rerun_replaces_its_part(tmp_path: Path) -> None:
    st = _st("DELETE FROM `d`.`t` WHERE `id` IN (%s)", (1,), "delete", 1, 2)
    for _ in range(2):
        w = PartWriter(tmp_path, 0)
        w.add(0, comment_for("d", "t", "1", st), st)
        w.close()
    assert part_path(tmp_path, 0, 0).read_text().count("DELETE") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p0000.phase0.sql", "p0000.phase1.sql"]


def test_comment_flattens_newlines() -> None:
    st = _st("x", (), "delete", 1, 2)
    assert comment_for("d", "a\nb", "1", st) == "-- d.a b delete handle=1 commit_ts 1..2"
