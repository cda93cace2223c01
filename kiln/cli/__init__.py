"""The `kiln` command: the only place that exits the process."""
