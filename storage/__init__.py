"""Storage: the only layer that speaks SQL (tables, repositories, unit of work, migrations,
register readers, reject reports and the region snapshot)."""
