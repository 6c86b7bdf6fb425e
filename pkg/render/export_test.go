package render

// ClusterScoped exposes the table of cluster-scoped kinds to the external
// tests (scope_test.go), which need a control plane from test/harness.
var ClusterScoped = clusterScoped
