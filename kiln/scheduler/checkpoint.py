"""The scheduler's checkpoint: the moment up to which every schedule has been looked at.

Kept as `<data_dir>/scheduler.json`, replaced atomically, so a restarted Kiln neither skips a
fire time that fell while it was stopped nor looks at one window twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from kiln.core.clock import aws_datetime
from kiln.scheduler.due import parse_aws_time

FILE_NAME = "scheduler.json"


class Checkpoint:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME

    def read(self) -> dt.datetime | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            value = json.loads(text).get("checkedUntil")
            return parse_aws_time(str(value)) if value else None
        except (ValueError, AttributeError):
            return None  # a torn or foreign file: start from now, as on a first start

    def write(self, moment: dt.datetime) -> None:
        staging = self.path.with_suffix(".tmp")
        staging.write_text(json.dumps({"checkedUntil": aws_datetime(moment)}), encoding="utf-8")
        os.replace(staging, self.path)
