"""Properties of the engine over generated policies and requests."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.iam import (
    AuthorizationRequest,
    Outcome,
    PolicyKind,
    Principal,
    evaluate,
    parse_policy,
)
from kiln.iam.pattern import Pattern

ACCOUNT = "111122223333"
USER = Principal.user(ACCOUNT, "alice")

_services = st.sampled_from(["s3", "ec2", "iam", "imagebuilder", "ssm"])
_names = st.sampled_from(["GetObject", "PutObject", "RunInstances", "CreateUser", "ListX", "Get"])
actions = st.builds(lambda s, n: f"{s}:{n}", _services, _names)
action_patterns = st.one_of(
    actions,
    st.builds(lambda s: f"{s}:*", _services),
    st.builds(lambda s, n: f"{s}:{n[:2]}*", _services, _names),
    st.builds(lambda s, n: f"{s.upper()}:{n.lower()}", _services, _names),
    st.just("*"),
)
resources = st.sampled_from(
    [
        "arn:aws:s3:::bucket/key",
        "arn:aws:s3:::bucket/dir/key",
        "arn:aws:s3:::other/key",
        f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:component/c/1.0.0/1",
        f"arn:aws:iam::{ACCOUNT}:role/r",
    ]
)
resource_patterns = st.one_of(
    resources,
    st.sampled_from(
        ["*", "arn:aws:s3:::bucket/*", "arn:aws:s3:::*", "arn:aws:*:*:*:*", "arn:aws:s3:::?ther/*"]
    ),
)


@st.composite
def statements(draw, effect=None):
    stmt = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Action", "NotAction"])): draw(
            st.lists(action_patterns, min_size=1, max_size=3)
        ),
        draw(st.sampled_from(["Resource", "NotResource"])): draw(
            st.lists(resource_patterns, min_size=1, max_size=3)
        ),
    }
    return stmt


def policy(stmts, kind=PolicyKind.IDENTITY):
    if kind is not PolicyKind.IDENTITY:
        stmts = [{**s, "Principal": {"AWS": ACCOUNT}} for s in stmts]
    return parse_policy({"Version": "2012-10-17", "Statement": stmts}, kind=kind)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(statements("Allow"), max_size=5),
    st.lists(statements("Allow"), max_size=3),
    actions,
    resources,
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)
def test_explicit_deny_always_wins(allows, resource_allows, action, resource, at, in_resource):
    deny = {"Effect": "Deny", "Action": action, "Resource": resource}
    identity_stmts = list(allows)
    resource_stmts = list(resource_allows)
    target = resource_stmts if in_resource else identity_stmts
    target.insert(min(at, len(target)), deny)
    request = AuthorizationRequest(action, resource, USER)
    decision = evaluate(
        request,
        identity_policies=[policy(identity_stmts)] if identity_stmts else [],
        resource_policy=policy(resource_stmts, PolicyKind.RESOURCE) if resource_stmts else None,
    )
    assert not decision.allowed
    assert decision.outcome is Outcome.EXPLICIT_DENY


@settings(max_examples=200, deadline=None)
@given(st.lists(action_patterns, min_size=1, max_size=4), actions)
def test_not_action_is_the_complement_of_action(patterns, action):
    plain = policy([{"Effect": "Allow", "Action": patterns, "Resource": "*"}]).statements[0]
    inverse = policy([{"Effect": "Allow", "NotAction": patterns, "Resource": "*"}]).statements[0]
    assert plain.matches_action(action) != inverse.matches_action(action)


@settings(max_examples=200, deadline=None)
@given(st.lists(resource_patterns, min_size=1, max_size=4), resources)
def test_not_resource_is_the_complement_of_resource(patterns, resource):
    plain = policy([{"Effect": "Allow", "Action": "*", "Resource": patterns}]).statements[0]
    inverse = policy([{"Effect": "Allow", "Action": "*", "NotResource": patterns}]).statements[0]
    assert plain.matches_resource(resource) != inverse.matches_resource(resource)


def reference_regex(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    """Independent translation: each character on its own."""
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{out}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


_glob_chars = st.sampled_from(list("aAb:/.*?$"))
_text_chars = st.sampled_from(list("aAb:/.$*?"))


@settings(max_examples=500, deadline=None)
@given(st.text(_glob_chars, max_size=10), st.text(_text_chars, max_size=12), st.booleans())
def test_wildcards_agree_with_reference_regex(glob, text, ignore_case):
    expected = reference_regex(glob, ignore_case=ignore_case).match(text) is not None
    assert Pattern.parse(glob).matches(text, ignore_case=ignore_case) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from(list("ab-/")), min_size=1, max_size=8), st.text(max_size=8))
def test_escaped_wildcards_are_literal(prefix, text):
    pattern = Pattern.parse(prefix + "${*}${?}${$}", variables=True)
    assert pattern.matches(prefix + "*?$")
    assert not pattern.matches(prefix + text + "x?$")


_values = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3)


@settings(max_examples=300, deadline=None)
@given(_values, st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3))
def test_set_operator_duality(context_values, policy_values):
    def holds(operator: str) -> bool:
        doc = policy(
            [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {operator: {"aws:TagKeys": policy_values}},
                }
            ]
        )
        ctx = {"aws:TagKeys": context_values} if context_values else {}
        return evaluate(AuthorizationRequest("s3:Get", "*", USER, ctx), identity_policies=[doc])

    any_equals = bool(holds("ForAnyValue:StringEquals"))
    all_not_equals = bool(holds("ForAllValues:StringNotEquals"))
    assert any_equals is (not all_not_equals)
    assert any_equals is any(v in policy_values for v in context_values)
    assert bool(holds("ForAllValues:StringEquals")) is all(
        v in policy_values for v in context_values
    )
