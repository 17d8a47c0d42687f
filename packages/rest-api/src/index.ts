// @pgha/rest-api public API. Filled in by its own issue.
