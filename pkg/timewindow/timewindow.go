package timewindow

import (
	"time"
	// Zones must resolve on images without a zoneinfo directory.
	_ "time/tzdata"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// Result says whether changes may be sent at the evaluated instant.
type Result struct {
	// Open is true when every constraint allows changes.
	Open bool
	// NextOpen is, while closed, the first instant at which every constraint
	// allows changes. It is zero while open, and when no opening exists within
	// MaxSearch (Reason then says so).
	NextOpen time.Time
	// ClosesAt is, while open, the instant a constraint next forbids changes.
	// It is zero while closed, and when nothing closes the window within the
	// search bounds (no constraints, or windows that keep reopening).
	ClosesAt time.Time
	// Reason is one sentence for a condition message.
	Reason string
	// Warnings flag settings that are valid but probably not meant, such as an
	// hour range that OCM reads backwards.
	Warnings []string
}

// MaxSearch bounds how far ahead Evaluate looks for the next opening.
const MaxSearch = 400 * 24 * time.Hour

// constraint is one restriction on when changes may be sent.
type constraint interface {
	// at says whether the constraint allows changes at t and when that next
	// changes: the closing instant while open, the opening instant while
	// closed; zero when it does not change within the constraint's horizon.
	at(t time.Time) (bool, time.Time)
	closedReason() string
}

// Evaluate decides whether a Subscription with timewindow tw and maintenance
// windows mws may send changes at now. Both kinds of constraint must allow a
// change; maintenance windows allow it while any of them is open; a nil tw and
// no mws allow everything. Errors name the offending field.
func Evaluate(tw *appsv1.TimeWindow, mws []appsv1.MaintenanceWindow, now time.Time) (Result, error) {
	cs, warnings, err := compile(tw, mws)
	if err != nil {
		return Result{}, err
	}
	res := evaluate(cs, now)
	res.Warnings = warnings
	return res, nil
}

// Validate checks tw and mws as Evaluate does, for admission and early errors.
func Validate(tw *appsv1.TimeWindow, mws []appsv1.MaintenanceWindow) ([]string, error) {
	_, warnings, err := compile(tw, mws)
	return warnings, err
}

func compile(tw *appsv1.TimeWindow, mws []appsv1.MaintenanceWindow) ([]constraint, []string, error) {
	var cs []constraint
	w, warnings, err := compileWeekly(tw)
	if err != nil {
		return nil, nil, err
	}
	if w != nil {
		cs = append(cs, w)
	}
	if len(mws) > 0 {
		union := make(anyOf, 0, len(mws))
		for i, mw := range mws {
			m, err := compileMaintenance(i, mw)
			if err != nil {
				return nil, nil, err
			}
			union = append(union, m)
		}
		cs = append(cs, union)
	}
	return cs, warnings, nil
}

// maxRounds bounds the alternation between constraints when looking for an
// instant they all allow.
const maxRounds = 1000

func evaluate(cs []constraint, now time.Time) Result {
	if len(cs) == 0 {
		return Result{Open: true, Reason: "no timewindow or maintenance window restricts changes"}
	}
	open := true
	var closes time.Time
	var closedBy constraint
	for _, c := range cs {
		o, change := c.at(now)
		if !o {
			open = false
			if closedBy == nil {
				closedBy = c
			}
			continue
		}
		if !change.IsZero() && (closes.IsZero() || change.Before(closes)) {
			closes = change
		}
	}
	if open {
		r := Result{Open: true, ClosesAt: closes, Reason: "inside the deployment window"}
		if !closes.IsZero() {
			r.Reason += " until " + closes.UTC().Format(time.RFC3339)
		}
		return r
	}

	r := Result{Reason: closedBy.closedReason()}
	if next, ok := nextOpen(cs, now); ok {
		r.NextOpen = next
		r.Reason += "; the next window opens at " + next.UTC().Format(time.RFC3339)
	} else {
		r.Reason += "; no window opens in the next 400 days, so nothing will be sent until spec.timewindow or spec.maintenanceWindows change"
	}
	return r
}

// nextOpen finds the first instant after now that every constraint allows, by
// moving to each closed constraint's next opening until none is closed.
func nextOpen(cs []constraint, now time.Time) (time.Time, bool) {
	limit := now.Add(MaxSearch)
	t := now
	for range maxRounds {
		moved := false
		for _, c := range cs {
			o, change := c.at(t)
			if o {
				continue
			}
			if change.IsZero() {
				return time.Time{}, false
			}
			t, moved = change, true
			if t.After(limit) {
				return time.Time{}, false
			}
		}
		if !moved {
			return t, true
		}
	}
	return time.Time{}, false
}
