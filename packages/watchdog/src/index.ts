// @pgha/watchdog public API. Filled in by its own issue.
