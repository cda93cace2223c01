from __future__ import annotations

import pytest
from sqlalchemy import text

from kiln.cli.serving import background_server
from tests.conftest import client_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kiln(request, make_kiln):
    """A Kiln on SQLite, or on a fresh PostgreSQL database."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        _truncate(url)
        return make_kiln(database_url=url)
    return make_kiln()


def _truncate(url):
    from kiln.store.database import Database

    database = Database(url)
    database.migrate()
    with database.transaction() as session:
        for table in (
            "resources",
            "resource_refs",
            "build_counters",
            "client_tokens",
            "iam_credentials",
            "iam_entities",
            "accounts",
        ):
            session.execute(text(f"DELETE FROM {table}"))
    database.dispose()


@pytest.fixture
def store_ib(store_kiln):
    with background_server(store_kiln) as url:
        yield client_for(url, store_kiln.admin_credentials())
