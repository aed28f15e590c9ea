"""Sample data written at each schema version, for the upgrade test.

Every migration adds an entry: ``FILL[N](db)`` writes rows that schema N allows (with
frozen SQL, as that version knew it), and ``CHECK[N](db)`` asserts they survived the
upgrade to the latest version. The upgrade test fails when a version has no entry.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from gisttracker.store.chain import ZERO_HASH, step, tag, uid_key

Fill = Callable[[peewee.SqliteDatabase], None]


def fill_v1(db: peewee.SqliteDatabase) -> None:
    db.execute_sql("INSERT INTO setting (uid, key, value) VALUES ('u-site', 'site_code', 'ZJU')")
    kind = db.execute_sql("SELECT type FROM sqlite_master WHERE name = 'audit_log'").fetchone()
    if kind[0] == "table":  # schema 1-5: one row per field
        db.execute_sql(
            "INSERT INTO audit_log (at, user, action, table_name, record_uid, field, old_value, "
            "new_value, reason, patient_uid) VALUES ('2026-01-02T03:04:05+00:00', 'nurse', "
            "'insert', 'setting', 'u-site', 'value', NULL, '\"ZJU\"', NULL, NULL)")
        return
    # schema 9 on: a transaction, a record, a shape and one chained entry with all values
    at, columns, values = "2026-01-02T03:04:05+00:00", '["value"]', '["ZJU"]'
    chain = step(ZERO_HASH, [1, at, "nurse", "insert", "setting", "u-site", None, columns,
                             None, values, None, None, 1])
    db.execute_sql("INSERT INTO audit_txn (id, at, user, reason, last_entry, hash) "
                   "VALUES (1, ?, 'nurse', NULL, 1, ?)", (at, chain))
    db.execute_sql("INSERT INTO audit_record (id, table_name, record_key, patient) "
                   "VALUES (1, 'setting', ?, NULL)", (uid_key("u-site"),))
    db.execute_sql("INSERT INTO audit_shape (id, table_name, columns) VALUES (1, 'setting', ?)",
                   (columns,))
    db.execute_sql("INSERT INTO audit_entry (id, txn, record, action, field, shape, old_value, "
                   "new_value, reason, version, tag) VALUES (1, 1, 1, 'i', NULL, 1, NULL, ?, "
                   "NULL, 1, ?)", (values, tag(chain)))


def check_v1(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT value FROM setting WHERE uid = 'u-site'").fetchone() == ("ZJU",)
    # Schema 9 compacts an insert into one entry with all its values (an upgrade from an
    # earlier schema also records the key, which the old trail never had: test_accounts).
    assert db.execute_sql(
        "SELECT user, action, field, new_value FROM audit_log WHERE record_uid = 'u-site' "
        "AND action = 'insert'").fetchall() == [("nurse", "insert", None, '{"value":"ZJU"}')]


def fill_v2(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO patient (uid, study_key, study_id, site_code, seq, sex, status, "
        "created_on) VALUES ('u-p1', 'NCT03862768', 'ZJU-0001', 'ZJU', 1, 'female', "
        "'screened', '2025-05-01')")
    db.execute_sql(
        "INSERT INTO patient_identity (uid, patient_id, record_number, date_of_birth) "
        "VALUES ('u-id1', (SELECT id FROM patient WHERE uid = 'u-p1'), 'MRN-77', '1960-02-29')")
    db.execute_sql(
        "INSERT INTO screening (uid, patient_id, screened_on, screened_by, ecog, outcome) "
        "VALUES ('u-s1', (SELECT id FROM patient WHERE uid = 'u-p1'), '2025-05-02', 'nurse', "
        "1, 'incomplete')")
    db.execute_sql(
        "INSERT INTO lab_result (uid, patient_id, screening_id, analyte, value, unit, uln) "
        "VALUES ('u-l1', (SELECT id FROM patient WHERE uid = 'u-p1'), "
        "(SELECT id FROM screening WHERE uid = 'u-s1'), 'alt', 130, 'U/L', 40)")


def check_v2(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT p.study_id, i.record_number, i.date_of_birth FROM patient p "
        "JOIN patient_identity i ON i.patient_id = p.id").fetchall() == [
            ("ZJU-0001", "MRN-77", "1960-02-29")]
    assert db.execute_sql("SELECT ecog FROM screening WHERE uid = 'u-s1'").fetchone() == (1,)
    assert db.execute_sql(
        "SELECT value, uln, visit_id FROM lab_result WHERE uid = 'u-l1'").fetchone() == (
            130.0, 40.0, None)


def fill_v3(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO anchor_date (uid, patient_id, anchor_key, date) VALUES ('u-a1', "
        "(SELECT id FROM patient WHERE uid = 'u-p1'), 'randomization', '2025-05-10')")
    db.execute_sql(
        "INSERT INTO visit (uid, patient_id, visit_key, name, anchor_key, planned_on, "
        "window_start, window_end, state, done_on) VALUES ('u-v1', "
        "(SELECT id FROM patient WHERE uid = 'u-p1'), 'fu_q3m_1', 'Month 3', 'randomization', "
        "'2025-08-10', '2025-07-27', '2025-08-24', 'done', '2025-08-12')")


def check_v3(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT name, planned_on, done_on, state FROM visit WHERE uid = 'u-v1'").fetchone() == (
            "Month 3", "2025-08-10", "2025-08-12", "done")
    assert db.execute_sql("SELECT date FROM anchor_date").fetchall() == [("2025-05-10",)]


def fill_v4(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO form (uid, visit_id, kind, state) VALUES ('u-f1', "
        "(SELECT id FROM visit WHERE uid = 'u-v1'), 'qlq_c30', 'complete')")
    db.execute_sql(
        "INSERT INTO form_value (uid, form_id, item, value, missing) VALUES ('u-fv1', "
        "(SELECT id FROM form WHERE uid = 'u-f1'), '1', '2', NULL), ('u-fv2', "
        "(SELECT id FROM form WHERE uid = 'u-f1'), '2', NULL, 'not_answered')")
    db.execute_sql(
        "INSERT INTO adverse_event (uid, patient_id, term, grade, onset) VALUES ('u-ae1', "
        "(SELECT id FROM patient WHERE uid = 'u-p1'), 'Diarrhea', 2, '2025-08-01')")


def check_v4(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT item, value, missing FROM form_value ORDER BY item").fetchall() == [
            ("1", "2", None), ("2", None, "not_answered")]
    assert db.execute_sql("SELECT term, grade FROM adverse_event").fetchall() == [
        ("Diarrhea", 2)]


def fill_v5(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO surgery (uid, patient_id, performed_on, procedure, margin) VALUES "
        "('u-su1', (SELECT id FROM patient WHERE uid = 'u-p1'), '2025-06-01', 'tme', 'R0')")
    db.execute_sql(
        "INSERT INTO course_event (uid, patient_id, kind, occurred_on) VALUES ('u-c1', "
        "(SELECT id FROM patient WHERE uid = 'u-p1'), 'last_known_alive', '2025-09-01')")


def check_v5(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql("SELECT procedure, margin FROM surgery").fetchall() == [("tme", "R0")]
    assert db.execute_sql("SELECT kind FROM course_event").fetchall() == [("last_known_alive",)]


def fill_v6(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO protocol_version (uid, study_key, digest, file_name, text, first_seen_at) "
        "VALUES ('u-pv1', 'NCT03862768', 'abc123', 'nct03862768_focal_progression.toml', "
        "'schema = 1', '2026-01-02T03:04:05+00:00')")
    db.execute_sql(
        "INSERT INTO study_protocol (uid, study_key, protocol_version_id, since) VALUES "
        "('u-sp1', 'NCT03862768', (SELECT id FROM protocol_version WHERE uid = 'u-pv1'), "
        "'2026-01-02T03:04:05+00:00')")
    db.execute_sql("UPDATE patient SET protocol_version_id = (SELECT id FROM protocol_version "
                   "WHERE uid = 'u-pv1') WHERE uid = 'u-p1'")
    db.execute_sql(
        "INSERT INTO form_version (uid, kind, digest, definition, first_seen_at) VALUES "
        "('u-fver1', 'qlq_c30', 'def456', '{}', '2026-01-02T03:04:05+00:00')")
    db.execute_sql("UPDATE form SET form_version_id = (SELECT id FROM form_version WHERE uid = "
                   "'u-fver1') WHERE uid = 'u-f1'")
    db.execute_sql("UPDATE visit SET done_recorded_at = '2025-08-20T10:00:00+00:00' "
                   "WHERE uid = 'u-v1'")


def check_v6(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT p.study_id, v.digest, v.text FROM patient p JOIN protocol_version v "
        "ON v.id = p.protocol_version_id").fetchall() == [("ZJU-0001", "abc123", "schema = 1")]
    assert db.execute_sql(
        "SELECT f.kind, v.digest FROM form f JOIN form_version v ON v.id = f.form_version_id"
    ).fetchall() == [("qlq_c30", "def456")]
    assert db.execute_sql("SELECT done_on, done_recorded_at FROM visit WHERE uid = 'u-v1'"
                          ).fetchone() == ("2025-08-12", "2025-08-20T10:00:00+00:00")


def fill_v7(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO demo_run (uid, seed, site_code, first_seq, last_seq, patients, made_on) "
        "VALUES ('u-d1', '7', 'DEMO', 1, 40, 40, '2026-01-02')")
    db.execute_sql(
        "INSERT INTO exchange_site (uid, site_code, site_name, public_key, trusted_on, "
        "audit_mark) VALUES ('u-x1', 'PUMCH', 'Peking Union', 'ab' , '2026-01-03', 120)")
    db.execute_sql(
        "INSERT INTO exchange_conflict (uid, site_code, package_seq, table_name, record_uid, "
        "field, site_value, centre_value) VALUES ('u-c6', 'PUMCH', 2, 'visit', 'u-v1', "
        "'done_on', '\"2025-08-12\"', '\"2025-08-13\"')")


def check_v7(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql("SELECT seed, last_seq FROM demo_run").fetchall() == [("7", 40)]
    assert db.execute_sql("SELECT site_code, audit_mark FROM exchange_site").fetchall() == [
        ("PUMCH", 120)]
    assert db.execute_sql(
        "SELECT state, site_value, centre_value FROM exchange_conflict").fetchall() == [
            ("open", '"2025-08-12"', '"2025-08-13"')]


def fill_v8(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO lab_result (uid, patient_id, visit_id, analyte, value, unit, uln) VALUES "
        "('u-l2', (SELECT id FROM patient WHERE uid = 'u-p1'), "
        "(SELECT id FROM visit WHERE uid = 'u-v1'), 'alt', 52, 'U/L', 40)")


def check_v8(db: peewee.SqliteDatabase) -> None:
    # Schema 8 adds indexes only: the rows are still there, and a visit's labs are now
    # found through lab_result_visit instead of a scan of the table.
    assert db.execute_sql(
        "SELECT l.value FROM lab_result l JOIN visit v ON v.id = l.visit_id "
        "WHERE v.uid = 'u-v1'").fetchall() == [(52.0,)]
    plan = " ".join(str(r[-1]) for r in db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT * FROM lab_result WHERE visit_id = 1").fetchall())
    assert "lab_result_visit" in plan


def fill_v9(db: peewee.SqliteDatabase) -> None:
    db.execute_sql(
        "INSERT INTO account (uid, name, full_name, role, password_hash, created_at) VALUES "
        "('u-acc1', 'li.wei', 'Li Wei', 'investigator', '$argon2id$x', "
        "'2026-01-02T03:04:05+00:00')")
    db.execute_sql(
        "INSERT INTO data_query (uid, number, patient_ref, study_key, table_name, record_uid, "
        "field, question, raised_by, raised_at) VALUES ('u-q1', 1, 'u-p1', 'NCT03862768', "
        "'screening', 'u-s1', 'ecog', 'ECOG 1 or 2 in the clinic letter?', 'monitor', "
        "'2026-01-03T00:00:00+00:00')")


def check_v9(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql("SELECT name, role, active, version FROM account").fetchall() == [
        ("li.wei", "investigator", 1, 1)]
    assert db.execute_sql("SELECT state, question FROM data_query").fetchall() == [
        ("open", "ECOG 1 or 2 in the clinic letter?")]


def fill_v10(db: peewee.SqliteDatabase) -> None:
    # Schema 10 adds an index only (on audit_entry.txn): rows written before it survive.
    db.execute_sql("INSERT INTO setting (uid, key, value) VALUES ('u-name', 'site_name', "
                   "'Zhejiang')")


def check_v10(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT value FROM setting WHERE key = 'site_name'").fetchall() == [("Zhejiang",)]
    # The entries an audit_txn row closes are found through the index, not by scanning the
    # trail (which SQLite did for every new audit_txn row while its entries waited for it).
    plan = " ".join(str(r[-1]) for r in db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT 1 FROM audit_entry WHERE txn = 1").fetchall())
    assert "audit_entry_txn" in plan


def fill_v11(db: peewee.SqliteDatabase) -> None:
    # Schema 11 changes only the server's append-only trigger function: nothing on SQLite.
    db.execute_sql("INSERT INTO setting (uid, key, value) VALUES ('u-paper', 'paper', "
                   "'letter')")


def check_v11(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT value FROM setting WHERE key = 'paper'").fetchall() == [("letter",)]
    # The audit tables still refuse an id that is not above the last one.
    for table in ("audit_entry", "audit_txn", "audit_record", "audit_shape"):
        sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?",
                             (f"{table}_append_only",)).fetchone()
        assert sql is not None and "max(id)" in sql[0]


def fill_v12(db: peewee.SqliteDatabase) -> None:
    # Schema 12 changes indexes only (the worklist's, and the server's name search).
    db.execute_sql("INSERT INTO setting (uid, key, value) VALUES ('u-v12', 'fixture_v12', "
                   "'Twelve')")


def check_v12(db: peewee.SqliteDatabase) -> None:
    assert db.execute_sql(
        "SELECT value FROM setting WHERE key = 'fixture_v12'").fetchall() == [("Twelve",)]
    # SQLite's name search keeps its case-insensitive index; the worklist's indexes hold
    # the study and the visit key, so its counts read them alone.
    sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = "
                         "'patient_identity_name'").fetchone()
    assert sql is not None and "NOCASE" in sql[0]
    for index in ("visit_planned", "visit_study_planned"):
        sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?",
                             (index,)).fetchone()
        assert sql is not None and "visit_key" in sql[0]


FILL: dict[int, Fill] = {1: fill_v1, 2: fill_v2, 3: fill_v3, 4: fill_v4, 5: fill_v5,
                         6: fill_v6, 7: fill_v7, 8: fill_v8, 9: fill_v9, 10: fill_v10,
                         11: fill_v11, 12: fill_v12}
CHECK: dict[int, Fill] = {1: check_v1, 2: check_v2, 3: check_v3, 4: check_v4, 5: check_v5,
                          6: check_v6, 7: check_v7, 8: check_v8,
                          9: check_v9, 10: check_v10, 11: check_v11,
                          12: check_v12}
