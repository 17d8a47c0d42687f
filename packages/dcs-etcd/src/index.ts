// @pgha/dcs-etcd public API. Filled in by its own issue.
