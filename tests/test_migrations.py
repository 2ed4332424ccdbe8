"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from tests.conftest import make_app
from webapp.extensions import db


def test_migrations_match_the_models(tmp_path, pg_schema):
    app = make_app(
        "sqlite", tmp_path, pg_schema, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/m.db"
    )
    with app.app_context():
        db.drop_all()
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert diff == []
