"""asv benchmark suites for fastgen (see asv.conf.json at the repository root)."""
