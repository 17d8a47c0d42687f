// @pgha/ha-engine public API. Filled in by its own issue.
