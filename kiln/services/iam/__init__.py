"""The IAM service (query protocol) and the identity functions the rest of Kiln uses:
who a credential belongs to, which policies apply to a principal, the bootstrap administrator
and the Image Builder service-linked role."""
