"""Schema 11: the server's append-only check of the audit tables, without dynamic SQL.

On a PostgreSQL server every row inserted into ``audit_entry``, ``audit_record``,
``audit_txn`` and ``audit_shape`` passes the ``BEFORE INSERT`` trigger function
``gist_append_only()``, which refuses an id not above the table's last one (the same rule as
SQLite's ``*_append_only`` triggers). Until now it built its query with ``EXECUTE
format(…, TG_TABLE_NAME)``: PL/pgSQL parses and plans a dynamic statement again for every
row. A registration writes five such rows; measured on the throw-away cluster (20,000 rows
into a table with the trigger): 45 µs per row with the dynamic query, 13 µs with a static
query per table (PL/pgSQL keeps its plan for the session), 3 µs with no trigger — about
0.16 ms of the server's CPU per registration (issue 16).

The rule is unchanged: the same tables, the same refusal (message and SQLSTATE), the same
comparison; only how the last id is read differs. A table not named (none uses the function
today) still gets the dynamic query. SQLite is untouched: its triggers are static already,
so this migration has no SQLite statements (the file's version moves to 11 with no change).
"""

VERSION = 11

STATEMENTS: list[str] = []

POSTGRES_STATEMENTS = [
    """CREATE OR REPLACE FUNCTION gist_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE last BIGINT;
       BEGIN
         IF TG_TABLE_NAME = 'audit_entry' THEN
           SELECT coalesce(max(id), 0) INTO last FROM audit_entry;
         ELSIF TG_TABLE_NAME = 'audit_record' THEN
           SELECT coalesce(max(id), 0) INTO last FROM audit_record;
         ELSIF TG_TABLE_NAME = 'audit_txn' THEN
           SELECT coalesce(max(id), 0) INTO last FROM audit_txn;
         ELSIF TG_TABLE_NAME = 'audit_shape' THEN
           SELECT coalesce(max(id), 0) INTO last FROM audit_shape;
         ELSE
           EXECUTE format('SELECT coalesce(max(id), 0) FROM %I', TG_TABLE_NAME) INTO last;
         END IF;
         IF NEW.id IS NULL OR NEW.id <= last THEN
           RAISE EXCEPTION 'the audit trail is append-only'
             USING ERRCODE = 'integrity_constraint_violation';
         END IF;
         RETURN NEW;
       END $$""",
]
