"""The Alembic environment of the job store, shipped inside the package so that an installed
service can bring its database up to date at start-up (:func:`api.store.migrate.upgrade`)."""
