// @pgha/postgres-controller public API. Filled in by its own issue.
