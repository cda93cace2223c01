"""IAM users, their tags and access keys, called as the server calls them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_iam_support import ACCOUNT, World, allow, document

from kiln.iam import PrincipalType
from kiln.services.iam import attachments, inline, keys, tags, users
from kiln.services.iam.bootstrap import ADMIN_USER


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_create_get_list_user(world: World) -> None:
    created = world.call(
        users.create_user,
        {"UserName": "builder", "Path": "/ci/", "Tags": [{"Key": "team", "Value": "img"}]},
    )["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ci/builder"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Tags"] == [{"Key": "team", "Value": "img"}]
    got = world.call(users.get_user, {"UserName": "BUILDER"})["User"]
    assert got["UserName"] == "builder" and got["UserId"] == created["UserId"]
    listed = world.call(users.list_users, {"PathPrefix": "/ci/"})
    assert [u["UserName"] for u in listed["Users"]] == ["builder"]
    assert listed["IsTruncated"] is False and "Tags" not in listed["Users"][0]
    everyone = world.call(users.list_users)["Users"]
    assert sorted(u["UserName"] for u in everyone) == ["builder", ADMIN_USER]


def test_user_names_are_unique_regardless_of_case(world: World) -> None:
    world.call(users.create_user, {"UserName": "Builder"})
    error = world.fails(users.create_user, {"UserName": "builder"}, code="EntityAlreadyExists")
    assert error.message == "User with name builder already exists."
    assert error.status == 409


def test_get_user_without_name_is_the_caller(world: World) -> None:
    me = world.call(users.get_user)["User"]
    assert me["UserName"] == ADMIN_USER and me["Arn"] == world.admin.arn


def test_get_missing_user(world: World) -> None:
    error = world.fails(users.get_user, {"UserName": "nobody"}, code="NoSuchEntity")
    assert error.message == "The user with name nobody cannot be found."
    assert error.status == 404


def test_list_users_pages_with_marker(world: World) -> None:
    for i in range(5):
        world.call(users.create_user, {"UserName": f"u{i}"})
    first = world.call(users.list_users, {"MaxItems": 4})
    assert first["IsTruncated"] is True and len(first["Users"]) == 4
    rest = world.call(users.list_users, {"MaxItems": 4, "Marker": first["Marker"]})
    assert rest["IsTruncated"] is False and rest["Marker"] is None
    names = [u["UserName"] for u in first["Users"] + rest["Users"]]
    assert len(names) == len(set(names)) == 6
    world.fails(users.list_users, {"Marker": "forged"}, code="ValidationError")


def test_user_tags(world: World) -> None:
    world.call(users.create_user, {"UserName": "t"})
    world.call(tags.tag_user, {"UserName": "t", "Tags": [{"Key": "CostCenter", "Value": "1"}]})
    world.call(tags.tag_user, {"UserName": "t", "Tags": [{"Key": "costcenter", "Value": "2"}]})
    assert world.call(tags.list_user_tags, {"UserName": "t"})["Tags"] == [
        {"Key": "costcenter", "Value": "2"}
    ]
    world.call(tags.untag_user, {"UserName": "t", "TagKeys": ["COSTCENTER"]})
    assert world.call(tags.list_user_tags, {"UserName": "t"})["Tags"] == []
    world.fails(
        tags.tag_user,
        {"UserName": "t", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}]},
        code="InvalidInput",
    )
    many = [{"Key": f"k{i}", "Value": ""} for i in range(50)]
    world.call(tags.tag_user, {"UserName": "t", "Tags": many})
    world.fails(
        tags.tag_user, {"UserName": "t", "Tags": [{"Key": "x", "Value": ""}]}, code="LimitExceeded"
    )


def test_access_keys_lifecycle(world: World) -> None:
    world.call(users.create_user, {"UserName": "ci"})
    key = world.call(keys.create_access_key, {"UserName": "ci"})["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"
    listed = world.call(keys.list_access_keys, {"UserName": "ci"})["AccessKeyMetadata"]
    assert listed == [
        {
            "UserName": "ci",
            "AccessKeyId": key["AccessKeyId"],
            "Status": "Active",
            "CreateDate": listed[0]["CreateDate"],
        }
    ]
    assert "SecretAccessKey" not in listed[0]
    world.call(keys.create_access_key, {"UserName": "ci"})
    error = world.fails(keys.create_access_key, {"UserName": "ci"}, code="LimitExceeded")
    assert error.message == "Cannot exceed quota for AccessKeysPerUser: 2"
    world.call(
        keys.update_access_key,
        {"UserName": "ci", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive"},
    )
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in world.call(keys.list_access_keys, {"UserName": "ci"})["AccessKeyMetadata"]
    }
    assert statuses[key["AccessKeyId"]] == "Inactive"
    world.call(keys.delete_access_key, {"UserName": "ci", "AccessKeyId": key["AccessKeyId"]})
    world.fails(
        keys.delete_access_key,
        {"UserName": "ci", "AccessKeyId": key["AccessKeyId"]},
        code="NoSuchEntity",
    )


def test_the_secret_is_sealed_and_verifiable(world: World) -> None:
    from kiln.services.iam.identity import reveal
    from kiln.store import iam as store

    world.call(users.create_user, {"UserName": "ci"})
    key = world.call(keys.create_access_key, {"UserName": "ci"})["AccessKey"]
    with world.database.transaction() as session:
        row = store.credential(session, key["AccessKeyId"])
        assert row is not None
        assert key["SecretAccessKey"] not in row.secret_encrypted
        assert reveal(world.box, row) == key["SecretAccessKey"]
    assert world.principal_of(key["AccessKeyId"]).arn.endswith(":user/ci")


def test_key_calls_default_to_the_calling_user(world: World) -> None:
    world.call(users.create_user, {"UserName": "ci"})
    ci = world.user("ci")
    key = world.call(keys.create_access_key, {}, as_=ci)["AccessKey"]
    assert key["UserName"] == "ci"
    listed = world.call(keys.list_access_keys, {}, as_=ci)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    admin_keys = world.call(keys.list_access_keys)["AccessKeyMetadata"]
    assert key["AccessKeyId"] not in {k["AccessKeyId"] for k in admin_keys}
    # another user's key is not found under the caller's name
    world.fails(
        keys.update_access_key,
        {"AccessKeyId": key["AccessKeyId"], "Status": "Inactive"},
        code="NoSuchEntity",
    )


def test_update_access_key_refuses_expired(world: World) -> None:
    key = world.call(keys.list_access_keys)["AccessKeyMetadata"][0]
    world.fails(
        keys.update_access_key,
        {"AccessKeyId": key["AccessKeyId"], "Status": "Expired"},
        code="ValidationError",
    )


def test_delete_user_conflicts_until_it_is_bare(world: World) -> None:
    world.call(users.create_user, {"UserName": "gone"})
    key = world.call(keys.create_access_key, {"UserName": "gone"})["AccessKey"]
    arn = "arn:aws:iam::aws:policy/AWSImageBuilderReadOnlyAccess"
    world.call(attachments.attach_user_policy, {"UserName": "gone", "PolicyArn": arn})
    world.call(
        inline.put_user_policy,
        {"UserName": "gone", "PolicyName": "p", "PolicyDocument": document(allow("s3:*"))},
    )
    error = world.fails(users.delete_user, {"UserName": "gone"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must delete access keys first."
    world.call(keys.delete_access_key, {"UserName": "gone", "AccessKeyId": key["AccessKeyId"]})
    error = world.fails(users.delete_user, {"UserName": "gone"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must detach all policies first."
    world.call(attachments.detach_user_policy, {"UserName": "gone", "PolicyArn": arn})
    error = world.fails(users.delete_user, {"UserName": "gone"}, code="DeleteConflict")
    assert error.message == "Cannot delete entity, must delete policies first."
    world.call(inline.delete_user_policy, {"UserName": "gone", "PolicyName": "p"})
    world.call(users.delete_user, {"UserName": "gone"})
    world.fails(users.get_user, {"UserName": "gone"}, code="NoSuchEntity")


def test_root_and_role_sessions_as_get_user_callers(world: World) -> None:
    from kiln.iam import Principal

    root = Principal.root(ACCOUNT)
    me = world.call(users.get_user, as_=root)["User"]
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and me["UserId"] == ACCOUNT
    session = Principal.assumed_role(ACCOUNT, "r", "s")
    assert session.type is PrincipalType.ASSUMED_ROLE
    world.fails(users.get_user, as_=session, code="ValidationError")
    world.fails(keys.create_access_key, as_=session, code="ValidationError")
