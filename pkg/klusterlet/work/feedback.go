package work

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/jsonpath"

	workv1 "open-cluster-management.io/api/work/v1"
)

// wellKnownStatus lists the status fields reported for kinds under a
// WellKnownStatus feedback rule; the names and paths are OCM's.
var wellKnownStatus = map[schema.GroupKind][]workv1.JsonPath{
	{Group: "apps", Kind: "Deployment"}: {
		{Name: "ReadyReplicas", Path: ".status.readyReplicas"},
		{Name: "Replicas", Path: ".status.replicas"},
		{Name: "AvailableReplicas", Path: ".status.availableReplicas"},
	},
	{Group: "batch", Kind: "Job"}: {
		{Name: "JobComplete", Path: `.status.conditions[?(@.type=="Complete")].status`},
		{Name: "JobSucceeded", Path: ".status.succeeded"},
	},
	{Group: "", Kind: "Pod"}: {
		{Name: "PodReady", Path: `.status.conditions[?(@.type=="Ready")].status`},
		{Name: "PodPhase", Path: ".status.phase"},
	},
}

// maxRawFeedback bounds a structured value returned as JSON.
const maxRawFeedback = 1024

// feedbackValues evaluates a manifest's feedback rules against the live object.
func feedbackValues(obj *unstructured.Unstructured, rules []workv1.FeedbackRule) ([]workv1.FeedbackValue, error) {
	var (
		values []workv1.FeedbackValue
		errs   []error
	)
	for _, rule := range rules {
		var paths []workv1.JsonPath
		switch rule.Type {
		case workv1.WellKnownStatusType:
			gvk := obj.GroupVersionKind()
			paths = wellKnownStatus[gvk.GroupKind()]
			if len(paths) == 0 {
				errs = append(errs, fmt.Errorf("no well-known status fields for %s; use a JSONPaths rule", gvk.GroupKind()))
				continue
			}
		case workv1.JSONPathsType:
			paths = rule.JsonPaths
		default:
			errs = append(errs, fmt.Errorf("feedback rule type %q is not supported; use WellKnownStatus or JSONPaths", rule.Type))
			continue
		}
		for _, p := range paths {
			if p.Version != "" && p.Version != obj.GroupVersionKind().Version {
				errs = append(errs, fmt.Errorf("feedback %s asks for version %s but the object is %s", p.Name, p.Version, obj.GroupVersionKind().Version))
				continue
			}
			v, err := feedbackValue(obj.Object, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if v != nil {
				values = append(values, *v)
			}
		}
	}
	return values, errors.Join(errs...)
}

// feedbackValue reads one JSON path; a missing field yields no value.
func feedbackValue(obj map[string]any, p workv1.JsonPath) (*workv1.FeedbackValue, error) {
	jp := jsonpath.New(p.Name).AllowMissingKeys(true)
	if err := jp.Parse("{" + p.Path + "}"); err != nil {
		return nil, fmt.Errorf("feedback %s: parse JSON path %q: %w", p.Name, p.Path, err)
	}
	results, err := jp.FindResults(obj)
	if err != nil {
		return nil, fmt.Errorf("feedback %s: evaluate %q: %w", p.Name, p.Path, err)
	}
	if len(results) == 0 || len(results[0]) == 0 {
		return nil, nil
	}
	var v any
	if len(results) == 1 && len(results[0]) == 1 {
		v = results[0][0].Interface()
	} else {
		list := make([]any, 0, len(results[0]))
		for _, r := range results[0] {
			list = append(list, r.Interface())
		}
		v = list
	}
	out := &workv1.FeedbackValue{Name: p.Name}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case int64:
		out.Value = workv1.FieldValue{Type: workv1.Integer, Integer: &t}
	case float64:
		if t != float64(int64(t)) {
			s := fmt.Sprint(t)
			out.Value = workv1.FieldValue{Type: workv1.String, String: &s}
			break
		}
		i := int64(t)
		out.Value = workv1.FieldValue{Type: workv1.Integer, Integer: &i}
	case string:
		out.Value = workv1.FieldValue{Type: workv1.String, String: &t}
	case bool:
		out.Value = workv1.FieldValue{Type: workv1.Boolean, Boolean: &t}
	default:
		raw, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("feedback %s: encode value: %w", p.Name, err)
		}
		if len(raw) > maxRawFeedback {
			return nil, fmt.Errorf("feedback %s: value is %d bytes of JSON, more than the %d allowed; point the path at a smaller field", p.Name, len(raw), maxRawFeedback)
		}
		s := string(raw)
		out.Value = workv1.FieldValue{Type: workv1.JsonRaw, JsonRaw: &s}
	}
	return out, nil
}
