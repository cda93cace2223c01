"""One package per AWS service Kiln serves. Plain functions over a RequestContext: they
validate, write intent to the store in the caller's transaction, and never start a build."""
