package placement

// Builders shared with the external (placement_test) controller tests, which
// live outside the package because pkg/lab imports the hub, which imports us.
var (
	Cluster        = cluster
	WithLabels     = withLabels
	InSet          = inSet
	WithClaims     = withClaims
	WithVersion    = withVersion
	ExclusiveSet   = exclusiveSet
	SelectorSet    = selectorSet
	Binding        = binding
	N32            = n32
	N64            = n64
	LabelPredicate = labelPredicate
	CelPredicate   = celPredicate
)
