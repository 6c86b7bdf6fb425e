package rollout

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
)

// forever stands for a progressDeadline of "None".
const forever = time.Duration(math.MaxInt64)

// strategy is a validated RolloutStrategy.
type strategy struct {
	kind           clusterv1alpha1.RolloutType
	minSuccessTime time.Duration
	deadline       time.Duration
	maxFailures    intstr.IntOrString
	maxConcurrency intstr.IntOrString
	mandatory      []clusterv1alpha1.MandatoryDecisionGroup
	// field is the path of the strategy's settings, for errors.
	field string
}

func parseStrategy(rs *clusterv1alpha1.RolloutStrategy) (*strategy, error) {
	if rs == nil {
		rs = &clusterv1alpha1.RolloutStrategy{}
	}
	s := &strategy{kind: rs.Type}
	var cfg clusterv1alpha1.RolloutConfig
	switch rs.Type {
	case "", clusterv1alpha1.All:
		// The CRD defaults the type to All.
		s.kind, s.field = clusterv1alpha1.All, "spec.rolloutStrategy.all"
		if rs.All != nil {
			cfg = rs.All.RolloutConfig
		}
	case clusterv1alpha1.Progressive:
		s.field = "spec.rolloutStrategy.progressive"
		if p := rs.Progressive; p != nil {
			cfg, s.mandatory, s.maxConcurrency = p.RolloutConfig, p.MandatoryDecisionGroups.MandatoryDecisionGroups, p.MaxConcurrency
		}
	case clusterv1alpha1.ProgressivePerGroup:
		s.field = "spec.rolloutStrategy.progressivePerGroup"
		if p := rs.ProgressivePerGroup; p != nil {
			cfg, s.mandatory = p.RolloutConfig, p.MandatoryDecisionGroups.MandatoryDecisionGroups
		}
	default:
		return nil, fmt.Errorf("spec.rolloutStrategy.type: %q is not a rollout type; use All, Progressive or ProgressivePerGroup", rs.Type)
	}
	s.minSuccessTime = cfg.MinSuccessTime.Duration
	s.maxFailures = cfg.MaxFailures
	deadline, err := parseDeadline(cfg.ProgressDeadline)
	if err != nil {
		return nil, fmt.Errorf("%s.progressDeadline: %w", s.field, err)
	}
	s.deadline = deadline
	if _, err := sizeOf(s.maxFailures, 1, 0); err != nil {
		return nil, fmt.Errorf("%s.maxFailures: %w", s.field, err)
	}
	if _, err := sizeOf(s.maxConcurrency, 1, 1); err != nil {
		return nil, fmt.Errorf("%s.maxConcurrency: %w", s.field, err)
	}
	return s, nil
}

// parseDeadline reads a progressDeadline: "None" or empty waits forever.
func parseDeadline(s string) (time.Duration, error) {
	if s == "" || s == "None" {
		return forever, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"90s\", \"30m\" or \"2h\", or None", s)
	}
	return d, nil
}

// sizeOf turns a count or percentage of total into a number of clusters, as
// OCM's rollout helper does: a percentage rounds up, and zero or less means
// def. Unlike OCM, a count above total is capped at total (OCM falls back to
// def, so maxFailures 3 on a group of 2 tolerates nothing), a percentage is
// computed exactly (OCM's floating point makes 10% of 30 clusters 4), and a
// plain number written as a string counts as that number (OCM rejects it).
func sizeOf(v intstr.IntOrString, total, def int) (int, error) {
	var n int
	switch v.Type {
	case intstr.Int:
		n = int(v.IntVal)
	case intstr.String:
		str := strings.TrimSpace(v.StrVal)
		switch {
		case str == "":
			return def, nil
		case strings.HasSuffix(str, "%"):
			p := strings.TrimSuffix(str, "%")
			if whole, err := strconv.Atoi(p); err == nil {
				n = ceilDiv(whole*total, 100)
				break
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("%q is neither a number of clusters nor a percentage such as \"25%%\"", v.StrVal)
			}
			n = int(math.Ceil(f / 100 * float64(total)))
		default:
			whole, err := strconv.Atoi(str)
			if err != nil {
				return 0, fmt.Errorf("%q is neither a number of clusters nor a percentage such as \"25%%\"", v.StrVal)
			}
			n = whole
		}
	default:
		return 0, fmt.Errorf("%v is neither a number of clusters nor a percentage", v)
	}
	switch {
	case n <= 0:
		return def, nil
	case n > total:
		return total, nil
	}
	return n, nil
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
