// @pgha/cli public API. Filled in by its own issue.
