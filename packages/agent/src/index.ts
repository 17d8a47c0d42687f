// @pgha/agent public API. Filled in by its own issue.
