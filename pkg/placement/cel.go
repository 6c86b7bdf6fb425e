package placement

import (
	"fmt"
	"strings"
	"sync"

	"github.com/blang/semver/v4"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	k8scel "k8s.io/apiserver/pkg/cel/library"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

// celCostLimit bounds one expression evaluation on one cluster, so a hostile
// expression cannot stall the scheduler (the apiserver's per-call limit).
const celCostLimit = 1000000

// The CEL environment placement expressions are compiled in. Like OCM's:
//   - the variable managedCluster: the ManagedCluster as JSON (metadata,
//     spec, status), e.g. managedCluster.metadata.labels["env"],
//     managedCluster.status.version.kubernetes;
//   - managedCluster.scores("resource"): the AddOnPlacementScore of that
//     name in the cluster's namespace, as a list of {name, value};
//   - versionIsGreaterThan / versionIsLessThan (semantic versions, "v"
//     prefix allowed) and quantityIsGreaterThan / quantityIsLessThan, both
//     as "a".f("b") and f("a", "b");
//   - the Kubernetes CEL libraries (lists, regex, urls, quantity, ip, cidr,
//     format, semver) and cel-go's string extensions.
func newCELEnv(scores ScoreLookup) (*cel.Env, error) {
	lookup := func(clusterArg, nameArg ref.Val) ref.Val {
		m, ok := clusterArg.(traits.Mapper)
		if !ok {
			return types.NewErr("scores: receiver must be managedCluster")
		}
		md, found := m.Find(types.String("metadata"))
		if !found {
			return types.NewErr("scores: managedCluster has no metadata")
		}
		mdm, ok := md.(traits.Mapper)
		if !ok {
			return types.NewErr("scores: managedCluster.metadata is not a map")
		}
		name, found := mdm.Find(types.String("name"))
		if !found {
			return types.NewErr("scores: managedCluster has no name")
		}
		cluster, _ := name.Value().(string)
		resourceName, _ := nameArg.Value().(string)
		var items []ref.Val
		if scores != nil {
			if s := scores(cluster, resourceName); s != nil {
				for _, it := range s.Status.Scores {
					items = append(items, types.NewStringInterfaceMap(types.DefaultTypeAdapter,
						map[string]any{"name": it.Name, "value": int64(it.Value)}))
				}
			}
		}
		return types.NewDynamicList(types.DefaultTypeAdapter, items)
	}
	strCmp := func(id string, cmp func(a, b string) (bool, error)) []cel.FunctionOpt {
		bind := cel.BinaryBinding(func(a, b ref.Val) ref.Val {
			as, _ := a.Value().(string)
			bs, _ := b.Value().(string)
			r, err := cmp(as, bs)
			if err != nil {
				return types.NewErr("%s: %v", id, err)
			}
			return types.Bool(r)
		})
		return []cel.FunctionOpt{
			cel.MemberOverload(id+"_member", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType, bind),
			cel.Overload(id+"_global", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType, bind),
		}
	}
	return cel.NewEnv(
		cel.Variable("managedCluster", cel.MapType(cel.StringType, cel.DynType)),
		cel.Function("scores", cel.MemberOverload("managedcluster_scores",
			[]*cel.Type{cel.DynType, cel.StringType}, cel.ListType(cel.DynType), cel.BinaryBinding(lookup))),
		cel.Function("versionIsGreaterThan", strCmp("version_is_greater_than", func(a, b string) (bool, error) {
			c, err := compareVersions(a, b)
			return c > 0, err
		})...),
		cel.Function("versionIsLessThan", strCmp("version_is_less_than", func(a, b string) (bool, error) {
			c, err := compareVersions(a, b)
			return c < 0, err
		})...),
		cel.Function("quantityIsGreaterThan", strCmp("quantity_is_greater_than", func(a, b string) (bool, error) {
			c, err := compareQuantities(a, b)
			return c > 0, err
		})...),
		cel.Function("quantityIsLessThan", strCmp("quantity_is_less_than", func(a, b string) (bool, error) {
			c, err := compareQuantities(a, b)
			return c < 0, err
		})...),
		cel.OptionalTypes(),
		ext.Strings(),
		k8scel.Lists(),
		k8scel.Regex(),
		k8scel.URLs(),
		k8scel.Quantity(),
		k8scel.IP(),
		k8scel.CIDR(),
		k8scel.Format(),
		k8scel.SemverLib(),
	)
}

func compareVersions(a, b string) (int, error) {
	va, err := semver.ParseTolerant(strings.TrimSpace(a))
	if err != nil {
		return 0, fmt.Errorf("%q is not a semantic version", a)
	}
	vb, err := semver.ParseTolerant(strings.TrimSpace(b))
	if err != nil {
		return 0, fmt.Errorf("%q is not a semantic version", b)
	}
	return va.Compare(vb), nil
}

func compareQuantities(a, b string) (int, error) {
	qa, err := resource.ParseQuantity(a)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity", a)
	}
	qb, err := resource.ParseQuantity(b)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity", b)
	}
	return qa.Cmp(qb), nil
}

// compileCEL compiles expressions that must each yield a bool.
func compileCEL(env *cel.Env, exprs []string) ([]cel.Program, error) {
	out := make([]cel.Program, 0, len(exprs))
	for i, expr := range exprs {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("celExpressions[%d] %q: %v", i, expr, iss.Err())
		}
		if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
			return nil, fmt.Errorf("celExpressions[%d] %q: yields %s, want a bool", i, expr, ast.OutputType())
		}
		prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
		if err != nil {
			return nil, fmt.Errorf("celExpressions[%d] %q: %v", i, expr, err)
		}
		out = append(out, prg)
	}
	return out, nil
}

// clusterObjects converts ManagedClusters to the map CEL sees, remembering the
// result per resourceVersion: conversion costs far more than evaluation.
type clusterObjects struct {
	mu sync.Mutex
	m  map[string]cachedObject
}

type cachedObject struct {
	resourceVersion string
	obj             map[string]any
}

func (c *clusterObjects) get(mc *clusterv1.ManagedCluster) (map[string]any, error) {
	if mc.ResourceVersion != "" {
		c.mu.Lock()
		e, ok := c.m[mc.Name]
		c.mu.Unlock()
		if ok && e.resourceVersion == mc.ResourceVersion {
			return e.obj, nil
		}
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(mc)
	if err != nil {
		return nil, fmt.Errorf("convert ManagedCluster %s for CEL: %w", mc.Name, err)
	}
	if mc.ResourceVersion != "" {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]cachedObject{}
		}
		c.m[mc.Name] = cachedObject{resourceVersion: mc.ResourceVersion, obj: obj}
		c.mu.Unlock()
	}
	return obj, nil
}

func (c *clusterObjects) forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}

// evalCEL reports whether every program yields true on the cluster; errors
// (missing fields, cost limit) count as false, as in OCM.
func evalCEL(prgs []cel.Program, obj map[string]any) bool {
	act := map[string]any{"managedCluster": obj}
	for _, p := range prgs {
		v, _, err := p.Eval(act)
		if err != nil {
			return false
		}
		if b, ok := v.Value().(bool); !ok || !b {
			return false
		}
	}
	return true
}
