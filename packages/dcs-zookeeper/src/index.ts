// @pgha/dcs-zookeeper public API. Filled in by its own issue.
