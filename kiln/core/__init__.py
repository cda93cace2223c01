"""Pure values shared by every layer: errors, ARNs, versions, ids, clocks, tokens. No I/O."""
