package timewindow

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

const minutesPerDay = 24 * 60

// span is a closed range of minutes of the day, [from, to].
type span struct{ from, to int }

// weekly is a compiled spec.timewindow.
type weekly struct {
	loc     *time.Location
	blocked bool
	// days[d] is true on the listed weekdays; all true when none is listed.
	days [7]bool
	// open are the closed minute ranges in which changes are allowed on a
	// listed day; nil means the whole day.
	open []span
	// edges are the sorted minutes at which openness can change within a day,
	// ending with minutesPerDay.
	edges []int
	// desc describes the window for messages.
	desc string
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday,
	"saturday": time.Saturday,
}

// compileWeekly validates tw. It returns nil when tw sets neither days nor
// hours: such a window allows everything, as in OCM.
func compileWeekly(tw *appsv1.TimeWindow) (*weekly, []string, error) {
	if tw == nil {
		return nil, nil, nil
	}
	w := &weekly{}
	switch strings.ToLower(tw.WindowType) {
	case "", "active":
	case "blocked", "block":
		w.blocked = true
	default:
		return nil, nil, fmt.Errorf("spec.timewindow.windowtype: %q is not a window type; use active or blocked", tw.WindowType)
	}
	loc, err := loadLocation(tw.Location)
	if err != nil {
		return nil, nil, fmt.Errorf("spec.timewindow.location: %w", err)
	}
	w.loc = loc

	var listed [7]bool
	for i, d := range tw.Daysofweek {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return nil, nil, fmt.Errorf("spec.timewindow.daysofweek[%d]: %q is not a weekday; use a full English name such as \"Monday\"", i, d)
		}
		listed[wd] = true
	}

	var warnings []string
	ranges := make([]span, 0, len(tw.Hours))
	for i, h := range tw.Hours {
		from, err := ParseKitchen(h.Start)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.timewindow.hours[%d].start: %w", i, err)
		}
		to, err := ParseKitchen(h.End)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.timewindow.hours[%d].end: %w", i, err)
		}
		if to < from {
			// OCM swaps such a range rather than reading it across midnight.
			warnings = append(warnings, fmt.Sprintf(
				"spec.timewindow.hours[%d]: end %q is before start %q, so like OCM this range means %s-%s, not a range across midnight; for a night window list %s-11:59PM and 12:00AM-%s",
				i, h.End, h.Start, h.End, h.Start, h.Start, h.End))
			from, to = to, from
		}
		ranges = append(ranges, span{from, to})
	}

	if len(tw.Daysofweek) == 0 && len(ranges) == 0 {
		return nil, warnings, nil
	}
	if len(tw.Daysofweek) == 0 {
		listed = [7]bool{true, true, true, true, true, true, true}
	}
	w.days = listed

	if len(ranges) > 0 {
		merged := mergeSpans(ranges)
		if w.blocked {
			w.open = gaps(merged)
		} else {
			w.open = merged
		}
	}
	w.edges = edgesOf(w.open)
	w.desc = describe(tw, w.blocked)
	return w, warnings, nil
}

// mergeSpans sorts ranges and joins those that overlap or touch.
func mergeSpans(in []span) []span {
	slices.SortFunc(in, func(a, b span) int { return a.from - b.from })
	out := []span{in[0]}
	for _, s := range in[1:] {
		last := &out[len(out)-1]
		if s.from <= last.to {
			last.to = max(last.to, s.to)
			continue
		}
		out = append(out, s)
	}
	return out
}

// gaps returns the minutes a blocked window leaves open on a listed day. Like
// OCM, each gap includes the edges of the ranges around it, and a gap of no
// length is dropped, so a range starting at midnight blocks midnight too.
func gaps(blocked []span) []span {
	var out []span
	at := 0
	for _, b := range blocked {
		if at != b.from {
			out = append(out, span{at, b.from})
		}
		at = b.to
	}
	if at != minutesPerDay {
		out = append(out, span{at, minutesPerDay - 1})
	}
	return out
}

// edgesOf lists the minutes of the day at which openness may change.
func edgesOf(open []span) []int {
	e := make([]int, 0, 2*len(open)+1)
	for _, s := range open {
		e = append(e, s.from, s.to+1)
	}
	e = append(e, minutesPerDay)
	slices.Sort(e)
	return slices.Compact(e)
}

// openAt reads the window at a wall-clock weekday and minute of the day.
func (w *weekly) openAt(day time.Weekday, minute int) bool {
	if !w.days[day] {
		// An active window opens only on its days; a blocked one blocks only on its days.
		return w.blocked
	}
	if w.open == nil {
		return !w.blocked
	}
	for _, s := range w.open {
		if minute >= s.from && minute <= s.to {
			return true
		}
	}
	return false
}

// stateAt reads the window at a wall-clock time (given as a UTC time whose
// fields are the local wall clock) and says until when, on the wall clock, the
// answer holds at least.
func (w *weekly) stateAt(wall time.Time) (bool, time.Time) {
	minute := wall.Hour()*60 + wall.Minute()
	dayStart := time.Date(wall.Year(), wall.Month(), wall.Day(), 0, 0, 0, 0, time.UTC)
	// edges ends with minutesPerDay, so some edge is after any minute of the day.
	i, _ := slices.BinarySearch(w.edges, minute+1)
	return w.openAt(wall.Weekday(), minute), dayStart.Add(time.Duration(w.edges[i]) * time.Minute)
}

// weeklyHorizon bounds the search for a change: the pattern repeats every week,
// and a second week covers a daylight-saving change eating the only opening.
const weeklyHorizon = 15 * 24 * time.Hour

// find returns the first instant at or after from at which the window's
// openness equals want, or false when there is none within weeklyHorizon.
func (w *weekly) find(from time.Time, want bool) (time.Time, bool) {
	limit := from.Add(weeklyHorizon)
	t := from
	for t.Before(limit) {
		local := t.In(w.loc)
		_, offset := local.Zone()
		_, zoneEnd := local.ZoneBounds()
		wall := time.Unix(local.Unix()+int64(offset), int64(local.Nanosecond())).UTC()
		open, until := w.stateAt(wall)
		if open == want {
			return t, true
		}
		// Within one zone period the wall clock is the instant plus a fixed offset.
		next := time.Unix(until.Unix()-int64(offset), 0)
		if !zoneEnd.IsZero() && zoneEnd.Before(next) {
			next = zoneEnd
		}
		t = next
	}
	return time.Time{}, false
}

// at implements constraint.
func (w *weekly) at(t time.Time) (bool, time.Time) {
	local := t.In(w.loc)
	open := w.openAt(local.Weekday(), local.Hour()*60+local.Minute())
	change, _ := w.find(t, !open)
	return open, change
}

func (w *weekly) closedReason() string {
	if w.blocked {
		return "the blocked timewindow (" + w.desc + ") forbids changes now"
	}
	return "outside the active timewindow (" + w.desc + ")"
}

func describe(tw *appsv1.TimeWindow, blocked bool) string {
	var b strings.Builder
	if blocked {
		b.WriteString("blocked ")
	} else {
		b.WriteString("active ")
	}
	if len(tw.Daysofweek) == 0 {
		b.WriteString("every day")
	} else {
		b.WriteString(strings.Join(tw.Daysofweek, ", "))
	}
	for i, h := range tw.Hours {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(h.Start + "-" + h.End)
	}
	loc := tw.Location
	if loc == "" {
		loc = "UTC"
	}
	b.WriteString(" " + loc)
	return b.String()
}

// ParseKitchen reads a Kitchen time such as "3:04PM" or "03:04PM" (Go's
// time.Kitchen, as OCM parses it) into minutes after midnight.
func ParseKitchen(s string) (int, error) {
	t, err := time.Parse(time.Kitchen, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not Kitchen time like \"3:04PM\"", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// loadLocation resolves an IANA zone name; "" is UTC.
func loadLocation(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone such as \"America/Toronto\" or \"UTC\"", name)
	}
	return loc, nil
}
