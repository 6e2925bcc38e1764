"""The lab database's Alembic migrations, run by ``Database.upgrade`` (no alembic.ini:
the configuration is made in code). Revisions are written by hand and never edited
once released: a change of the models is a new revision."""
