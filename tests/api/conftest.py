from __future__ import annotations

import pytest

from kiln.cli.serving import background_server
from tests.conftest import client_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kiln(request, make_kiln):
    """A Kiln on SQLite, or on a fresh PostgreSQL database."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        kiln = make_kiln(database_url=url)
        _truncate(kiln)
        return kiln
    return make_kiln()


def _truncate(kiln):
    with kiln.database.transaction() as session:
        for table in ("resources", "resource_refs", "build_counters", "client_tokens"):
            session.execute(__import__("sqlalchemy").text(f"DELETE FROM {table}"))


@pytest.fixture
def store_ib(store_kiln):
    with background_server(store_kiln) as url:
        yield client_for(url)
