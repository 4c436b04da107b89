"""The Alembic environment of the job store, shipped inside the package so that an installed
service can bring its database up to date at start-up (:func:`api.store.migrate.upgrade`).

A schema change is two edits: the tables in ``api/store/tables.py``, and a new revision in
``versions/`` (``000N_what_changed.py``, shaped like ``script.py.mako``, revising the
newest one) that takes a database there. Released revisions never change.
``tests/api/test_migrations.py`` checks that the revisions build exactly the tables the code
describes, on SQLite and on PostgreSQL.
"""
