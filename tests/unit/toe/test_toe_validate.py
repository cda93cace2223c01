"""Validation: every problem collected, each naming its place (path, names, line) and fault."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from kiln.toe import (
    DocumentInvalidError,
    component_type,
    parse_document,
    shell_script_document,
)
from kiln.toe.catalog import CATALOG


def one_step(step: str, *, head: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(step).strip("\n"), "      ")
    return f"schemaVersion: 1.0\n{head}phases:\n  - name: build\n    steps:\n{body}\n"


OK_STEP = """
- name: S
  action: ExecuteBash
  inputs:
    commands: [echo hi]
"""

# (case id, document, where the problem is, what it says)
INVALID = [
    ("not-a-mapping", "- a\n- b\n", "document", "must be a YAML mapping"),
    ("yaml-syntax", "schemaVersion: 1.0\nphases: [\n", "line", "YAML syntax error"),
    (
        "unquoted-reference",
        one_step("""
        - name: S
          action: ExecuteBash
          inputs:
            commands:
              - {{ P }}
        """),
        "line 9",
        "quoted string",
    ),
    ("no-schema-version", "phases: []\n", "document", "schemaVersion is required"),
    (
        "bad-schema-version",
        one_step(OK_STEP).replace("1.0", "2.0", 1),
        "schemaVersion (line 1)",
        "only 1.0 exists",
    ),
    ("unknown-top-key", "foo: 1\n" + one_step(OK_STEP), "foo (line 1)", "unknown top-level key"),
    ("name-not-string", "name: [x]\n" + one_step(OK_STEP), "name (line 1)", "must be a string"),
    ("no-phases", "schemaVersion: 1.0\n", "document", "'phases' is required"),
    ("empty-phases", "schemaVersion: 1.0\nphases: []\n", "phases (line 2)", "non-empty list"),
    (
        "phase-not-mapping",
        "schemaVersion: 1.0\nphases: [build]\n",
        "phases[0]",
        "a phase must be a mapping",
    ),
    (
        "phase-without-name",
        "schemaVersion: 1.0\nphases:\n  - steps: []\n",
        "phases[0] (line 3)",
        "needs a 'name'",
    ),
    (
        "duplicate-phase",
        one_step(OK_STEP)
        + "  - name: build\n    steps:\n"
        + textwrap.indent(OK_STEP.strip("\n"), "      ")
        + "\n",
        "phases[1] 'build' .name (line 9)",
        "used twice",
    ),
    (
        "no-standard-phase",
        one_step(OK_STEP).replace("name: build", "name: prepare"),
        "phases",
        "build, validate or test",
    ),
    (
        "empty-steps",
        "schemaVersion: 1.0\nphases:\n  - name: build\n    steps: []\n",
        "phases[0] 'build' .steps (line 4)",
        "non-empty list of 'steps'",
    ),
    (
        "unknown-phase-key",
        one_step(OK_STEP).replace("  - name: build\n", "  - name: build\n    when: x\n"),
        "phases[0] 'build' .when",
        "unknown key",
    ),
    (
        "step-not-mapping",
        one_step("- just-a-string"),
        "phases[0] 'build' .steps[0] (line 5)",
        "a step must be a mapping",
    ),
    ("step-without-name", one_step("- action: Reboot"), ".steps[0] (line 5)", "needs a 'name'"),
    (
        "step-name-with-dot",
        one_step(OK_STEP.replace("name: S", "name: a.b")),
        ".steps[0]",
        "no dots",
    ),
    ("duplicate-step", one_step(OK_STEP + OK_STEP), ".steps[1] 'S' .name (line 10)", "used twice"),
    ("no-action", one_step("- name: S"), ".steps[0] 'S' (line 5)", "needs an 'action'"),
    (
        "unknown-action",
        one_step("- name: S\n  action: ExecuteBsh"),
        ".steps[0] 'S' .action",
        "did you mean 'ExecuteBash'",
    ),
    (
        "windows-powershell",
        one_step("- name: S\n  action: ExecutePowerShell\n  inputs: {commands: [x]}"),
        ".action (line 6)",
        "only on Windows",
    ),
    (
        "windows-msi",
        one_step("- name: S\n  action: InstallMSI\n  inputs: {path: x.msi}"),
        ".action",
        "only on Windows",
    ),
    (
        "windows-uninstall-msi",
        one_step("- name: S\n  action: UninstallMSI\n  inputs: {path: x}"),
        ".action",
        "only on Windows",
    ),
    (
        "windows-registry",
        one_step(
            "- name: S\n  action: SetRegistry\n  inputs: [{path: x, name: y, value: z, type: SZ}]"
        ),
        ".action",
        "only on Windows",
    ),
    (
        "unknown-step-field",
        one_step(OK_STEP + "  retries: 3\n"),
        ".steps[0] 'S' .retries",
        "unknown step field",
    ),
    (
        "timeout-zero",
        one_step(OK_STEP + "  timeoutSeconds: 0\n"),
        ".timeoutSeconds (line 9)",
        "positive integer, or -1",
    ),
    (
        "timeout-negative",
        one_step(OK_STEP + "  timeoutSeconds: -5\n"),
        ".timeoutSeconds",
        "positive integer",
    ),
    (
        "timeout-string",
        one_step(OK_STEP + "  timeoutSeconds: soon\n"),
        ".timeoutSeconds",
        "positive integer",
    ),
    (
        "reboot-timeout",
        one_step("- name: R\n  action: Reboot\n  timeoutSeconds: 60"),
        "'R' .timeoutSeconds",
        "does not support timeoutSeconds",
    ),
    (
        "bad-on-failure",
        one_step(OK_STEP + "  onFailure: Retry\n"),
        ".onFailure",
        "Abort, Continue, Ignore",
    ),
    ("max-attempts-zero", one_step(OK_STEP + "  maxAttempts: 0\n"), ".maxAttempts", "at least 1"),
    (
        "execute-document-attempts",
        one_step(
            "- name: D\n  action: ExecuteDocument\n  maxAttempts: 2\n  inputs: {document: x.yaml}"
        ),
        "'D' .maxAttempts",
        "exactly 1 attempt",
    ),
    (
        "execute-document-timeout",
        one_step(
            "- name: D\n  action: ExecuteDocument\n  "
            "timeoutSeconds: 60\n  inputs: {document: x.yaml}"
        ),
        "'D' .timeoutSeconds",
        "without a timeout",
    ),
    (
        "missing-inputs",
        one_step("- name: S\n  action: ExecuteBash"),
        "'S' .inputs",
        "ExecuteBash inputs must be a mapping",
    ),
    (
        "missing-required-input",
        one_step("- name: S\n  action: ExecuteBash\n  inputs: {}"),
        "'S' .inputs (line 7)",
        "requires 'commands'",
    ),
    (
        "unknown-input",
        one_step(OK_STEP + "    shell: zsh\n"),
        ".inputs.shell (line 9)",
        "unknown input 'shell' for ExecuteBash",
    ),
    (
        "commands-not-list",
        one_step("- name: S\n  action: ExecuteBash\n  inputs:\n    commands: echo hi"),
        ".inputs.commands (line 8)",
        "must be a list",
    ),
    (
        "list-module-given-map",
        one_step("- name: F\n  action: CreateFile\n  inputs:\n    path: /tmp/x"),
        "'F' .inputs (line 7)",
        "non-empty list",
    ),
    (
        "list-item-missing-field",
        one_step("- name: F\n  action: CopyFile\n  inputs:\n    - source: /a"),
        ".inputs[0] (line 8)",
        "requires 'destination'",
    ),
    (
        "bad-boolean",
        one_step(
            "- name: F\n  action: CopyFile\n  inputs:\n    - {source: /a, "
            "destination: /b, overwrite: maybe}"
        ),
        ".inputs[0].overwrite",
        "true or false",
    ),
    (
        "bad-encoding",
        one_step("- name: F\n  action: CreateFile\n  inputs:\n    - {path: /a, encoding: latin1}"),
        ".inputs[0].encoding",
        "unsupported value",
    ),
    (
        "permissions-unquoted",
        one_step(
            "- name: F\n  action: SetFilePermissions\n  inputs:\n    "
            "- {path: /a, permissions: 0755}"
        ),
        ".inputs[0].permissions",
        "quoted octal string",
    ),
    (
        "permissions-not-octal",
        one_step(
            "- name: F\n  action: SetFolderPermissions\n  inputs:\n"
            "    - {path: /a, permissions: 'rwx'}"
        ),
        ".inputs[0].permissions",
        "quoted octal string",
    ),
    (
        "web-download-scheme",
        one_step(
            "- name: W\n  action: WebDownload\n  inputs:\n    - "
            "{source: 'ftp://x/y', destination: /tmp/y}"
        ),
        ".inputs[0].source",
        "http:// or https://",
    ),
    (
        "checksum-without-algorithm",
        one_step(
            "- name: W\n  action: WebDownload\n  inputs:\n    - "
            "{source: 'http://x/y', destination: /t, "
            "checksum: abc}"
        ),
        "'W' .inputs[0]",
        "'checksum' and 'algorithm' go together",
    ),
    (
        "bad-algorithm",
        one_step(
            "- name: W\n  action: WebDownload\n  inputs:\n    - {source: "
            "'http://x/y', destination: /t, checksum: a, algorithm: CRC32}"
        ),
        ".inputs[0].algorithm",
        "unsupported value",
    ),
    (
        "s3-source-not-s3",
        one_step(
            "- name: D\n  action: S3Download\n  inputs:\n    - {source: "
            "'/bucket/key', destination: /t}"
        ),
        ".inputs[0].source",
        "s3://bucket/key",
    ),
    (
        "s3-upload-destination",
        one_step(
            "- name: U\n  action: S3Upload\n  inputs:\n    - "
            "{source: /t, destination: 'http://b/k'}"
        ),
        ".inputs[0].destination",
        "s3://bucket/key",
    ),
    (
        "reboot-delay",
        one_step("- name: R\n  action: Reboot\n  inputs: {delaySeconds: -1}"),
        ".inputs.delaySeconds",
        "non-negative integer",
    ),
    (
        "update-os-include-string",
        one_step("- name: U\n  action: UpdateOS\n  inputs: {include: vim}"),
        ".inputs.include",
        "must be a list",
    ),
    (
        "execute-document-parameters",
        one_step(
            "- name: D\n  action: ExecuteDocument\n  inputs:\n"
            "    document: x.yaml\n    parameters: [{n: 1}]"
        ),
        ".inputs.parameters[0]",
        "'name' and 'value'",
    ),
    (
        "parameter-short-name",
        "parameters:\n  - P:\n      type: string\n" + one_step(OK_STEP),
        "parameters[0] 'P' (line 2)",
        "3-128 characters",
    ),
    (
        "parameter-no-type",
        "parameters:\n  - MyParam:\n      default: x\n" + one_step(OK_STEP),
        "parameters[0] 'MyParam' .MyParam (line 2)",
        "'type' is required",
    ),
    (
        "parameter-bad-type",
        "parameters:\n  - MyParam:\n      type: float\n" + one_step(OK_STEP),
        ".MyParam.type (line 3)",
        "unsupported type",
    ),
    (
        "parameter-two-keys",
        "parameters:\n  - {A1x: {type: string}, B2x: {type: string}}\n" + one_step(OK_STEP),
        "parameters[0] (line 2)",
        "exactly one key",
    ),
    (
        "parameter-unknown-key",
        "parameters:\n  - MyParam:\n      type: string\n      secret: true\n" + one_step(OK_STEP),
        ".MyParam.secret (line 4)",
        "unknown key",
    ),
    (
        "duplicate-variable",
        "parameters:\n  - Same:\n      type: string\nconstants:\n  - Same:\n"
        "      type: string\n      value: x\n" + one_step(OK_STEP),
        "constants[0] 'Same' (line 5)",
        "already used",
    ),
    (
        "constant-without-value",
        "constants:\n  - MyConst:\n      type: string\n" + one_step(OK_STEP),
        "constants[0] 'MyConst' .MyConst (line 2)",
        "needs a 'value'",
    ),
    (
        "constant-bad-type",
        "constants:\n  - MyConst:\n      type: integer\n      value: 1\n" + one_step(OK_STEP),
        ".MyConst.type",
        "unsupported type",
    ),
    (
        "undefined-variable",
        one_step(OK_STEP.replace("echo hi", "'echo {{ Missing }}'")),
        ".inputs.commands[0] (line 8)",
        "names no parameter or constant",
    ),
    (
        "invalid-reference",
        one_step(OK_STEP.replace("echo hi", "'echo {{ a b c }}'")),
        ".inputs.commands[0]",
        "not a valid reference",
    ),
    (
        "chain-unknown-phase",
        one_step(OK_STEP.replace("echo hi", "'{{ test.S.outputs.stdout }}'")),
        ".inputs.commands[0]",
        "no earlier phase is named 'test'",
    ),
    (
        "chain-later-step",
        one_step(
            OK_STEP.replace("echo hi", "'{{ build.Later.outputs.stdout }}'")
            + OK_STEP.replace("name: S", "name: Later")
        ),
        "'S' .inputs.commands[0]",
        "no earlier step 'Later'",
    ),
    (
        "chain-self",
        one_step(OK_STEP.replace("echo hi", "'{{ build.S.outputs.stdout }}'")),
        "'S' .inputs.commands[0]",
        "no earlier step 'S'",
    ),
    (
        "chain-missing-output",
        one_step(
            "- name: F\n  action: CreateFolder\n  inputs: [{path: /x}]"
            + OK_STEP.replace("echo hi", "'{{ build.F.outputs.stdout }}'")
        ),
        "'S' .inputs.commands[0]",
        "CreateFolder has no outputs",
    ),
    (
        "loop-not-mapping",
        one_step(OK_STEP + "  loop: [1, 2]\n"),
        "'S' .loop (line 9)",
        "must be a mapping",
    ),
    (
        "loop-both-kinds",
        one_step(OK_STEP + "  loop:\n    forEach: [a]\n    for: {start: 1, end: 2, updateBy: 1}\n"),
        "'S' .loop",
        "exactly one of",
    ),
    (
        "loop-update-zero",
        one_step(OK_STEP + "  loop:\n    for: {start: 1, end: 2, updateBy: 0}\n"),
        ".loop.for.updateBy",
        "must not be 0",
    ),
    (
        "loop-infinite",
        one_step(OK_STEP + "  loop:\n    for: {start: 5, end: 1, updateBy: 1}\n"),
        ".loop.for.updateBy",
        "infinite loop",
    ),
    (
        "loop-for-chaining",
        one_step(OK_STEP + "  loop:\n    for: {start: 1, end: '{{ x }}', updateBy: 1}\n"),
        ".loop.for.end",
        "must be an integer",
    ),
    (
        "loop-empty-foreach",
        one_step(OK_STEP + "  loop:\n    forEach: []\n"),
        ".loop.forEach",
        "non-empty list",
    ),
    (
        "loop-bad-delimiter",
        one_step(OK_STEP + "  loop:\n    forEach: {list: 'a|b', delimiter: '|'}\n"),
        ".loop.forEach.delimiter",
        "one character",
    ),
    (
        "loop-duplicate-name",
        one_step(
            OK_STEP
            + "  loop: {name: L, forEach: [a]}\n"
            + OK_STEP.replace("name: S", "name: T")
            + "  loop: {name: L, forEach: [b]}\n"
        ),
        "'T' .loop.name",
        "used twice",
    ),
    (
        "loop-unknown-name-ref",
        one_step(
            OK_STEP.replace("echo hi", "'{{ other.value }}'")
            + "  loop: {name: mine, forEach: [a]}\n"
        ),
        ".inputs.commands[0]",
        "names no loop of this step",
    ),
    (
        "if-two-operators",
        one_step(OK_STEP + "  if:\n    fileExists: /a\n    folderExists: /b\n"),
        "'S' .if (line 9)",
        "exactly one operator",
    ),
    (
        "if-unknown-operator",
        one_step(OK_STEP + "  if:\n    fileIsBig: /a\n"),
        ".if.fileIsBig (line 10)",
        "unknown operator",
    ),
    (
        "if-bad-then",
        one_step(OK_STEP + "  if:\n    fileExists: /a\n    then: Run\n"),
        ".if.then (line 11)",
        "Abort, Execute, Skip",
    ),
    (
        "if-too-deep",
        one_step(
            OK_STEP + "  if:\n    not:\n      not:\n        not:\n          "
            "not:\n            not:\n              fileExists: /a\n"
        ),
        ".if.not.not.not.not.not",
        "nest deeper than 4",
    ),
    (
        "if-missing-value",
        one_step(OK_STEP + "  if:\n    stringEquals: x\n"),
        "'S' .if",
        "needs a 'value'",
    ),
    (
        "if-empty-and",
        one_step(OK_STEP + "  if:\n    and: []\n"),
        ".if.and",
        "non-empty list of conditions",
    ),
    (
        "assert-bad-number",
        one_step("- name: A\n  action: Assert\n  inputs:\n    numberEquals: ten\n    value: 10"),
        ".inputs.numberEquals",
        "needs a number",
    ),
    (
        "assert-bad-regex",
        one_step(
            "- name: A\n  action: Assert\n  inputs:\n    patternMatches: '(unclosed'\n    value: x"
        ),
        ".inputs.patternMatches",
        "invalid regular expression",
    ),
    (
        "assert-hash-without-path",
        one_step("- name: A\n  action: Assert\n  inputs:\n    fileSHA256Equals: abc"),
        "'A' .inputs",
        "needs the 'path'",
    ),
    (
        "duplicate-yaml-key",
        one_step(OK_STEP + "  action: Reboot\n"),
        "'S' .action (line 9)",
        "duplicate key",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "what"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_document_is_rejected_with_place_and_fault(text, where, what):
    with pytest.raises(DocumentInvalidError) as caught:
        parse_document(text)
    matching = [p for p in caught.value.problems if what in p.message]
    assert matching, [str(p) for p in caught.value.problems]
    assert any(where in p.location for p in matching), [str(p) for p in caught.value.problems]
    assert what in str(caught.value)


def test_the_table_has_at_least_40_distinct_documents():
    assert len({c[1] for c in INVALID}) >= 40


def test_all_problems_are_collected_not_just_the_first():
    text = one_step("""
        - name: A
          action: Nope
        - name: B
          action: ExecuteBash
          timeoutSeconds: 0
          onFailure: Maybe
          inputs: {}
        """)
    with pytest.raises(DocumentInvalidError) as caught:
        parse_document(text)
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 4, messages
    assert (
        caught.value.problems[1].location
        == "phases[0] 'build' .steps[1] 'B' .timeoutSeconds (line 9)"
    )


SPEC_EXAMPLES = [
    # §1 top level, §3.1 variables, §3.3 loops, §3.4 conditionals, §4 assert/chaining
    """
name: HelloWorldTestingDocument
description: This is hello world testing document.
schemaVersion: 1.0
parameters:
  - MyParam:
      type: string
      default: 'x'
      description: 'a parameter'
constants:
  - MyConst:
      type: string
      value: 'y'
phases:
  - name: build
    steps:
      - name: HelloWorldStep
        action: ExecuteBash
        inputs:
          commands:
            - echo "Hello World! {{ MyParam }} {{ MyConst }}"
  - name: validate
    steps:
      - name: ApplicationVersion
        action: ExecuteBash
        inputs:
          commands: ['echo 2.1.1']
      - name: Check
        action: Assert
        inputs:
          stringEquals: '2.1.1'
          value: '{{ validate.ApplicationVersion.outputs.stdout }}'
  - name: test
    steps:
      - name: Loops
        action: ExecuteBash
        loop:
          name: myLoop
          for: {start: 1, end: 9, updateBy: 2}
        inputs:
          commands: ['echo {{ myLoop.index }} {{ loop.value }}']
      - name: Each
        action: ExecuteBash
        loop:
          forEach: {list: "a,b,c", delimiter: ","}
        inputs:
          commands: ['echo {{ loop.value }}']
      - name: Conditional
        action: ExecuteBash
        if:
          and:
            - binaryExists: 'apt-get'
            - not:
                binaryExists: 'unzip'
        inputs:
          commands: ['echo conditional']
      - name: WithActions
        action: ExecuteBash
        if:
          fileExists: '/etc/my_config'
          then: Skip
          else: Execute
        inputs:
          commands: ['echo hi']
""",
    """
schemaVersion: "1.0"
phases:
  - name: build
    steps:
      - name: Download
        action: WebDownload
        inputs:
          - source: 'https://example.com/a.tgz'
            destination: /tmp/a.tgz
      - name: UpdateOS
        action: UpdateOS
      - name: Use
        action: ExecuteBinary
        inputs:
          path: /bin/ls
          arguments: ['{{ build.Download.inputs[0].destination }}']
""",
]


@pytest.mark.parametrize("text", SPEC_EXAMPLES)
def test_spec_examples_are_valid(text):
    document = parse_document(text)
    assert document.phases[0].steps


def test_document_values():
    document = parse_document(SPEC_EXAMPLES[0])
    assert document.phase_names == ("build", "validate", "test")
    assert [(p.name, p.type, p.default) for p in document.parameters] == [
        ("MyParam", "string", "x")
    ]
    parameterless = parse_document(SPEC_EXAMPLES[1]).parameters
    assert parameterless == ()
    loop = document.phases[2].steps[0].loop
    assert loop is not None
    assert (loop.kind, loop.name, loop.start, loop.end, loop.update_by) == (
        "for",
        "myLoop",
        1,
        9,
        2,
    )
    step = document.phases[0].steps[0]
    assert (step.timeout_seconds, step.on_failure, step.max_attempts) == (7200, "Abort", 1)


def test_windows_documents_accept_windows_modules():
    text = one_step("- name: S\n  action: ExecutePowerShell\n  inputs: {commands: [dir]}")
    assert parse_document(text, platform="Windows").phases[0].steps[0].action == "ExecutePowerShell"
    with pytest.raises(DocumentInvalidError):
        parse_document(one_step(OK_STEP), platform="Windows")  # ExecuteBash is not for Windows


def test_catalog_has_the_30_modules():
    assert len(CATALOG) == 30


@pytest.mark.parametrize(
    ("phases", "kind"),
    [
        (["test"], "TEST"),
        (["build"], "BUILD"),
        (["build", "test"], "BUILD"),
        (["validate"], "BUILD"),
    ],
)
def test_component_type(phases, kind):
    steps = yaml.safe_load(OK_STEP)
    data = {"schemaVersion": 1.0, "phases": [{"name": p, "steps": steps} for p in phases]}
    assert component_type(parse_document(yaml.safe_dump(data))) == kind


def test_shell_script_document_round_trips():
    script = "#!/bin/bash\nset -e\necho 'it''s' \"$HOME\"\n"
    document = parse_document(shell_script_document(script, name="imported"))
    step = document.phases[0].steps[0]
    assert (document.name, step.action, step.inputs["commands"]) == (
        "imported",
        "ExecuteBash",
        [script],
    )
