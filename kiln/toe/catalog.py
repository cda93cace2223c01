"""The catalog of action modules: platforms, input shape, fields and outputs (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Shape(StrEnum):
    MAP = "map"  # inputs is one mapping
    LIST = "list"  # inputs is a list of mappings, each processed in order
    OPTIONAL_MAP = "optional-map"  # inputs may be omitted
    CONDITION = "condition"  # inputs is a condition expression (Assert)


LINUX = frozenset({"Linux", "macOS"})
WINDOWS = frozenset({"Windows"})
ALL = frozenset({"Linux", "Windows", "macOS"})
PLATFORMS = ("Linux", "Windows", "macOS")

ENCODINGS = frozenset(
    {
        "utf8",
        "utf-8",
        "utf16",
        "utf-16",
        "utf16-le",
        "utf-16-le",
        "utf16-be",
        "utf-16-be",
        "utf32",
        "utf-32",
        "utf32-le",
        "utf-32-le",
        "utf32-be",
        "utf-32-be",
    }
)
HASH_ALGORITHMS = frozenset({"MD5", "SHA1", "SHA256", "SHA512"})


@dataclass(frozen=True)
class ActionSpec:
    name: str
    platforms: frozenset[str]
    shape: Shape
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()  # fields whose value must be a list
    booleans: tuple[str, ...] = ()
    enums: dict[str, frozenset[str]] = field(default_factory=dict)
    reboot_exit_code: int | None = None  # exit code meaning "reboot, then rerun this step"

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


_OVERWRITE = ("overwrite",)
_ENC = {"encoding": ENCODINGS}

CATALOG: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "ExecuteBash",
            LINUX,
            Shape.MAP,
            ("commands",),
            (),
            ("stdout",),
            lists=("commands",),
            reboot_exit_code=194,
        ),
        ActionSpec(
            "ExecuteBinary",
            ALL,
            Shape.MAP,
            ("path",),
            ("arguments",),
            ("stdout",),
            lists=("arguments",),
            reboot_exit_code=194,
        ),
        ActionSpec(
            "ExecutePowerShell",
            WINDOWS,
            Shape.MAP,
            (),
            ("commands", "file"),
            ("stdout",),
            lists=("commands",),
            reboot_exit_code=3010,
        ),
        ActionSpec(
            "ExecuteDocument",
            ALL,
            Shape.MAP,
            ("document",),
            ("document-s3-bucket-owner", "phases", "parameters"),
            ("outputs",),
            lists=("parameters",),
        ),
        ActionSpec("Assert", ALL, Shape.CONDITION),
        ActionSpec(
            "S3Download",
            ALL,
            Shape.LIST,
            ("source", "destination"),
            ("expectedBucketOwner", *_OVERWRITE),
            booleans=_OVERWRITE,
        ),
        ActionSpec(
            "S3Upload",
            ALL,
            Shape.LIST,
            ("source", "destination"),
            ("recurse", "expectedBucketOwner"),
            booleans=("recurse",),
        ),
        ActionSpec(
            "WebDownload",
            ALL,
            Shape.LIST,
            ("source", "destination"),
            ("overwrite", "checksum", "algorithm", "ignoreCertificateErrors"),
            ("destination",),
            booleans=("overwrite", "ignoreCertificateErrors"),
            enums={"algorithm": HASH_ALGORITHMS},
        ),
        ActionSpec("AppendFile", ALL, Shape.LIST, ("path",), ("content", "encoding"), enums=_ENC),
        ActionSpec(
            "CopyFile", ALL, Shape.LIST, ("source", "destination"), _OVERWRITE, booleans=_OVERWRITE
        ),
        ActionSpec(
            "CopyFolder",
            ALL,
            Shape.LIST,
            ("source", "destination"),
            _OVERWRITE,
            booleans=_OVERWRITE,
        ),
        ActionSpec(
            "CreateFile",
            ALL,
            Shape.LIST,
            ("path",),
            ("content", "encoding", "owner", "group", "permissions", "overwrite"),
            booleans=_OVERWRITE,
            enums=_ENC,
        ),
        ActionSpec(
            "CreateFolder",
            ALL,
            Shape.LIST,
            ("path",),
            ("owner", "group", "permissions", "overwrite"),
            booleans=_OVERWRITE,
        ),
        ActionSpec(
            "CreateSymlink", LINUX, Shape.LIST, ("path", "target"), ("force",), booleans=("force",)
        ),
        ActionSpec("DeleteFile", ALL, Shape.LIST, ("path",)),
        ActionSpec("DeleteFolder", ALL, Shape.LIST, ("path",), ("force",), booleans=("force",)),
        ActionSpec(
            "ListFiles",
            ALL,
            Shape.LIST,
            ("path",),
            ("fileNamePattern", "recursive"),
            ("files",),
            booleans=("recursive",),
        ),
        ActionSpec(
            "MoveFile", ALL, Shape.LIST, ("source", "destination"), _OVERWRITE, booleans=_OVERWRITE
        ),
        ActionSpec(
            "MoveFolder",
            ALL,
            Shape.LIST,
            ("source", "destination"),
            _OVERWRITE,
            booleans=_OVERWRITE,
        ),
        ActionSpec(
            "ReadFile",
            ALL,
            Shape.LIST,
            ("path",),
            ("encoding", "printFileContent"),
            ("content",),
            booleans=("printFileContent",),
            enums=_ENC,
        ),
        ActionSpec("SetFileEncoding", ALL, Shape.LIST, ("path",), ("encoding",), enums=_ENC),
        ActionSpec("SetFileOwner", LINUX, Shape.LIST, ("path", "owner"), ("group",)),
        ActionSpec(
            "SetFolderOwner",
            LINUX,
            Shape.LIST,
            ("path", "owner"),
            ("group", "recursive"),
            booleans=("recursive",),
        ),
        ActionSpec("SetFilePermissions", LINUX, Shape.LIST, ("path", "permissions")),
        ActionSpec(
            "SetFolderPermissions",
            LINUX,
            Shape.LIST,
            ("path", "permissions"),
            ("recursive",),
            booleans=("recursive",),
        ),
        ActionSpec(
            "InstallMSI",
            WINDOWS,
            Shape.MAP,
            ("path",),
            (
                "reboot",
                "logOptions",
                "logFile",
                "properties",
                "ignoreAuthenticodeSignatureErrors",
                "allowUnsignedInstaller",
            ),
        ),
        ActionSpec(
            "UninstallMSI",
            WINDOWS,
            Shape.MAP,
            ("path",),
            (
                "reboot",
                "logOptions",
                "logFile",
                "properties",
                "ignoreAuthenticodeSignatureErrors",
                "allowUnsignedInstaller",
            ),
        ),
        ActionSpec("Reboot", ALL, Shape.OPTIONAL_MAP, (), ("delaySeconds",)),
        ActionSpec("SetRegistry", WINDOWS, Shape.LIST, ("path", "name", "value", "type")),
        ActionSpec(
            "UpdateOS",
            ALL,
            Shape.OPTIONAL_MAP,
            (),
            ("include", "exclude"),
            lists=("include", "exclude"),
        ),
    )
}
