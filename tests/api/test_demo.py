"""`kiln demo`, the README's main job, on a fresh data directory, twice (it is idempotent)."""

from __future__ import annotations

from click.testing import CliRunner

from kiln.cli.main import cli


def test_demo_registers_the_example_component_and_says_how_to_use_it(tmp_path):
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--data-dir", str(tmp_path / "data")])
    assert first.exit_code == 0, first.output
    assert "component/hello-kiln/1.0.0/1" in first.output
    assert "aws imagebuilder list-components --endpoint-url http://127.0.0.1:8780" in first.output
    assert (tmp_path / "data" / "kiln.db").exists()
    again = runner.invoke(cli, ["demo", "--data-dir", str(tmp_path / "data")])
    assert again.exit_code == 0, again.output
    assert "holds 1 component version(s)" in again.output
