package timewindow

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// cronParser reads standard five-field expressions and the @hourly…@yearly
// descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maintenance is one compiled maintenance window: open from each scheduled
// start for dur.
type maintenance struct {
	sched *cron.SpecSchedule
	dur   time.Duration
	desc  string
}

// ParseSchedule reads a maintenance window's schedule in loc. It refuses what
// has no fixed start times (@every) and in-expression zones (TZ=…), which would
// contradict the location field.
func ParseSchedule(expr string, loc *time.Location) (*cron.SpecSchedule, error) {
	s := strings.TrimSpace(expr)
	switch {
	case s == "":
		return nil, fmt.Errorf("schedule is empty; write a five-field cron expression such as \"0 2 * * 6\"")
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, fmt.Errorf("%q sets a time zone inside the expression; set the location field instead", expr)
	case strings.HasPrefix(s, "@every"):
		return nil, fmt.Errorf("%q has no fixed start times; write a five-field cron expression such as \"0 2 * * 6\"", expr)
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a five-field cron expression such as \"0 2 * * 6\": %v", expr, err)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q has no fixed start times; write a five-field cron expression", expr)
	}
	spec.Location = loc
	return spec, nil
}

func compileMaintenance(i int, mw appsv1.MaintenanceWindow) (*maintenance, error) {
	field := fmt.Sprintf("spec.maintenanceWindows[%d]", i)
	loc, err := loadLocation(mw.Location)
	if err != nil {
		return nil, fmt.Errorf("%s.location: %w", field, err)
	}
	sched, err := ParseSchedule(mw.Schedule, loc)
	if err != nil {
		return nil, fmt.Errorf("%s.schedule: %w", field, err)
	}
	if mw.Duration.Duration <= 0 {
		return nil, fmt.Errorf("%s.duration: %q must be positive, such as \"2h\"", field, mw.Duration.Duration)
	}
	where := mw.Location
	if where == "" {
		where = "UTC"
	}
	return &maintenance{sched: sched, dur: mw.Duration.Duration,
		desc: fmt.Sprintf("%q for %s %s", mw.Schedule, mw.Duration.Duration, where)}, nil
}

// maxChain bounds how many back-to-back openings are followed to find where
// a window that keeps reopening closes.
const maxChain = 1024

// at implements constraint for one maintenance window.
func (m *maintenance) at(t time.Time) (bool, time.Time) {
	// The opening in effect is the first start after t-dur, if it is not after t.
	start := m.sched.Next(t.Add(-m.dur))
	if start.IsZero() {
		return false, time.Time{}
	}
	if start.After(t) {
		return false, start
	}
	end := start.Add(m.dur)
	next := m.sched.Next(start)
	for i := 0; !next.IsZero() && !next.After(end); i++ {
		if i == maxChain {
			return true, time.Time{}
		}
		end = maxTime(end, next.Add(m.dur))
		next = m.sched.Next(next)
	}
	return true, end
}

// anyOf is the union of maintenance windows: open while any is.
type anyOf []*maintenance

func (a anyOf) at(t time.Time) (bool, time.Time) {
	open, end := a.openUntil(t)
	if open {
		// Another window may open exactly when, or before, this one closes.
		for i := 0; !end.IsZero() && i < maxChain; i++ {
			still, later := a.openUntil(end)
			if !still {
				return true, end
			}
			end = later
		}
		return true, time.Time{}
	}
	var first time.Time
	for _, m := range a {
		if _, opens := m.at(t); !opens.IsZero() && (first.IsZero() || opens.Before(first)) {
			first = opens
		}
	}
	return false, first
}

// openUntil says whether some window is open at t and the latest instant the
// open ones close (zero when one of them does not close).
func (a anyOf) openUntil(t time.Time) (bool, time.Time) {
	open := false
	var end time.Time
	for _, m := range a {
		o, closes := m.at(t)
		if !o {
			continue
		}
		if closes.IsZero() {
			return true, time.Time{}
		}
		open = true
		end = maxTime(end, closes)
	}
	return open, end
}

func (a anyOf) closedReason() string {
	descs := make([]string, len(a))
	for i, m := range a {
		descs[i] = m.desc
	}
	return "no maintenance window is open (" + strings.Join(descs, "; ") + ")"
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
