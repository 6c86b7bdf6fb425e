package placement

import (
	"encoding/json"
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
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
)

// celCostLimit bounds one expression evaluation on one cluster, so a hostile
// expression cannot stall the scheduler (the apiserver's per-call limit).
const celCostLimit = 1000000

// The CEL environment placement expressions are compiled in. As in OCM
// (open-cluster-management.io/sdk-go's cel libraries):
//   - the variable managedCluster: the ManagedCluster as JSON (metadata,
//     spec, status), e.g. managedCluster.metadata.labels["env"],
//     managedCluster.status.version.kubernetes;
//   - managedCluster.scores("resource"): the AddOnPlacementScore of that
//     name in the cluster's namespace, as a list of {name, value}; an error
//     (so no match) when the cluster has no such AddOnPlacementScore;
//   - "json".parseJSON(): the string parsed as JSON (numbers are doubles);
//   - the Kubernetes CEL libraries (lists, regex, urls, quantity, ip, cidr,
//     format, semver) and cel-go's string extensions.
//
// Our extensions, not in OCM: versionIsGreaterThan / versionIsLessThan
// (semantic versions as strings, "v" prefix allowed) and
// quantityIsGreaterThan / quantityIsLessThan (quantities as strings), both
// as "a".f("b") and f("a", "b"). Expressions using them are valid only with
// this controller; OCM's own offers semver("1.2.3").isGreaterThan(...) and
// quantity("1Gi").isGreaterThan(...) from the Kubernetes libraries, which
// work in both.
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
		var s *clusterv1alpha1.AddOnPlacementScore
		if scores != nil {
			s = scores(cluster, resourceName)
		}
		if s == nil {
			// As OCM: a missing score is an error, so the cluster does not match.
			return types.NewErr("scores: cluster %s has no AddOnPlacementScore %q", cluster, resourceName)
		}
		items := make([]ref.Val, 0, len(s.Status.Scores))
		for _, it := range s.Status.Scores {
			items = append(items, types.NewStringInterfaceMap(types.DefaultTypeAdapter,
				map[string]any{"name": it.Name, "value": int64(it.Value)}))
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
		cel.Function("parseJSON", cel.MemberOverload("parse_json_string",
			[]*cel.Type{cel.StringType}, cel.DynType, cel.UnaryBinding(parseJSON))),
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

// maxParseJSON bounds the string parseJSON decodes: the input is a label,
// annotation or status field of a cluster, all far smaller.
const maxParseJSON = 256 << 10

// parseJSON decodes a JSON string into CEL values, as OCM's JSON library does.
func parseJSON(arg ref.Val) ref.Val {
	s, ok := arg.Value().(string)
	if !ok {
		return types.NewErr("parseJSON: the receiver must be a string")
	}
	if len(s) > maxParseJSON {
		return types.NewErr("parseJSON: the string is %d bytes, more than %d", len(s), maxParseJSON)
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return types.NewErr("parseJSON: %v", err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
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

// compileCEL compiles expressions. As in OCM, an expression that compiles
// but yields something other than a bool is not an error: it matches no
// cluster (evalCEL), so the other predicates still select.
func compileCEL(env *cel.Env, exprs []string) ([]cel.Program, error) {
	out := make([]cel.Program, 0, len(exprs))
	for i, expr := range exprs {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return nil, fmt.Errorf("celExpressions[%d] %q: %v", i, expr, iss.Err())
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
