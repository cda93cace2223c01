"""What a lifecycle selection and AMI exclusion rules make of one image's facts (shared by the
images that exist and the AMIs a deleted image left)."""

from __future__ import annotations

from kiln.core.semver import Version
from kiln.services.imagebuilder.lifecycle_rules import ami_exclusion, selects

FACTS = {
    "public": None,
    "regions": {"us-east-1", "eu-west-1"},
    "accounts": {"111122223333", "444455556666"},
    "tags": {"team": "web"},
}


def test_a_selection_picks_by_tag_or_by_recipe_name_and_version() -> None:
    version = Version.parse("1.2.0")
    by_recipe = {"recipes": [{"name": "web", "semanticVersion": "1.x.x"}]}
    assert selects(by_recipe, name="web", version=version, tags=None)
    assert not selects(by_recipe, name="db", version=version, tags=None)
    assert not selects(by_recipe, name="web", version=Version.parse("2.0.0"), tags=None)
    by_tag = {"tagMap": {"team": "web"}, "recipes": [{"name": "web", "semanticVersion": "1.x.x"}]}
    assert selects(by_tag, name="db", version=version, tags={"team": "web"})
    assert not selects(by_tag, name="web", version=version, tags={"team": "db"})


def test_each_ami_rule_protects_with_its_reason_in_order() -> None:
    assert ami_exclusion({"isPublic": True}, **FACTS) is None
    public = {**FACTS, "public": "the image is public"}
    everything = {
        "isPublic": True,
        "regions": ["eu-west-1"],
        "sharedAccounts": ["444455556666"],
        "tagMap": {"team": "web"},
    }
    assert ami_exclusion(everything, **public) == "the image is public"
    assert ami_exclusion(everything, **FACTS) == "the image has AMIs in excluded regions eu-west-1"
    rest = {k: v for k, v in everything.items() if k != "regions"}
    assert ami_exclusion(rest, **FACTS) == (
        "the image is shared with excluded accounts 444455556666"
    )
    assert ami_exclusion({"tagMap": {"team": "web"}}, **FACTS) == (
        "the image's AMIs have a tag of the exclusion rules"
    )
    unmatched = {"regions": ["ap-south-1"], "sharedAccounts": ["999988887777"],
                 "tagMap": {"team": "db"}}  # fmt: skip
    assert ami_exclusion(unmatched, **FACTS) is None
    assert ami_exclusion({"lastLaunched": {"value": 1, "unit": "DAYS"}}, **FACTS) is None
