package timewindow

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

func mustTime(t *testing.T, layout, s string) time.Time {
	t.Helper()
	v, err := time.Parse(layout, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hours(pairs ...string) []appsv1.HourRange {
	var out []appsv1.HourRange
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, appsv1.HourRange{Start: pairs[i], End: pairs[i+1]})
	}
	return out
}

// TestOCMRules walks OCM's reading of spec.timewindow, one rule per case. The
// cases marked "OCM:" are the scenarios of OCM's own timewindow tests; where
// OCM answers with a requeue delay, the delay is NextOpen-now (and OCM's
// status requeue adds one minute to it).
func TestOCMRules(t *testing.T) {
	const unix = time.UnixDate
	cases := []struct {
		name     string
		now      string
		tw       *appsv1.TimeWindow
		open     bool
		nextOpen time.Duration // from now, when closed; 0 = never
		closesIn time.Duration // from now, when open; 0 = never
	}{
		{name: "OCM: nil window", now: "Sun Nov  3 10:40:00 UTC 2019", open: true},
		{name: "OCM: empty window", now: "Sun Nov  3 10:40:00 UTC 2019", tw: &appsv1.TimeWindow{}, open: true},
		{name: "OCM: active with only a location runs all the time", now: "Sun Nov  3 10:40:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "active", Location: "America/Toronto"}, open: true},
		{name: "blocked with neither days nor hours blocks nothing", now: "Sun Nov  3 10:40:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "blocked"}, open: true},
		{name: "OCM: hours without days apply every day", now: "Sun Nov  3 09:00:00 UTC 2019",
			tw:       &appsv1.TimeWindow{WindowType: "active", Hours: hours("10:30AM", "11:30AM", "12:30PM", "8:30PM")},
			nextOpen: time.Hour + 30*time.Minute},
		{name: "OCM: days without hours are whole days", now: "Sun Nov  3 09:00:00 UTC 2019",
			tw:       &appsv1.TimeWindow{WindowType: "active", Daysofweek: []string{"monday", "friday"}},
			nextOpen: 15 * time.Hour},
		{name: "OCM: hours in the location on the day it leaves daylight saving", now: "Sun Nov  3 09:40:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "active", Location: "America/Toronto",
				Daysofweek: []string{"Sunday", "monday", "friday"}, Hours: hours("10:30AM", "11:30AM", "12:30PM", "8:30PM")},
			nextOpen: 5*time.Hour + 50*time.Minute},
		{name: "OCM: only Monday", now: "Sun Nov  3 09:00:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "active", Hours: []appsv1.HourRange{}, Daysofweek: []string{"Monday"}}, nextOpen: 15 * time.Hour},
		{name: "OCM: blocked hours on listed days, inside them", now: "Mon Sep 28 15:06:00 UTC 2020",
			tw: &appsv1.TimeWindow{WindowType: "block", Location: "America/Toronto",
				Hours: hours("08:18AM", "09:09PM"), Daysofweek: []string{"Sunday", "Monday"}},
			nextOpen: 10*time.Hour + 3*time.Minute},
		{name: "OCM: blocked hours on listed days, just before them", now: "Mon Sep 28 15:06:00 UTC 2020",
			tw: &appsv1.TimeWindow{WindowType: "block", Location: "America/Toronto",
				Hours: hours("11:07AM", "09:09PM"), Daysofweek: []string{"Sunday", "Monday"}},
			open: true, closesIn: 2 * time.Minute},
		{name: "OCM: blocked soon, status requeue at the first blocked minute", now: "Mon Sep 28 11:06:00 UTC 2020",
			tw: &appsv1.TimeWindow{WindowType: "block", Location: "UTC",
				Hours: hours("11:09AM", "09:09PM"), Daysofweek: []string{"Sunday", "Monday"}},
			open: true, closesIn: 4 * time.Minute},
		{name: "OCM: hours only, before them", now: "Sat Jan  1 10:30:00 UTC 0000",
			tw: &appsv1.TimeWindow{WindowType: "active", Location: "UTC", Hours: hours("11:00AM", "12:00PM")}, nextOpen: 30 * time.Minute},
		{name: "OCM: days only, two days ahead", now: "Sat Jan  1 00:00:00 UTC 0000",
			tw: &appsv1.TimeWindow{WindowType: "active", Location: "UTC", Daysofweek: []string{"monday", "friday"}}, nextOpen: 48 * time.Hour},
		{name: "OCM: days and hours, outside", now: "Sat Jan  1 00:00:00 UTC 0000",
			tw:       &appsv1.TimeWindow{WindowType: "active", Location: "UTC", Daysofweek: []string{"monday", "friday"}, Hours: hours("11:00AM", "12:00PM")},
			nextOpen: 59 * time.Hour},
		{name: "OCM: active range includes its start minute", now: "Sat Jan  1 11:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "active", Location: "UTC", Daysofweek: []string{"monday", "friday", "saturday"}, Hours: hours("11:00AM", "12:00PM")},
			open: true, closesIn: time.Hour + time.Minute},
		{name: "OCM: active range includes its end minute", now: "Sat Jan  1 11:30:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "active", Location: "UTC", Daysofweek: []string{"monday", "friday", "saturday"}, Hours: hours("11:00AM", "12:00PM")},
			open: true, closesIn: 31 * time.Minute},
		{name: "OCM: blocked days ahead, closes at the first blocked minute", now: "Sat Jan  1 00:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "block", Location: "UTC", Daysofweek: []string{"monday", "friday"}, Hours: hours("11:00AM", "12:00PM")},
			open: true, closesIn: 59*time.Hour + time.Minute},
		{name: "OCM: blocked range leaves its start minute open", now: "Sat Jan  1 11:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "block", Location: "UTC", Daysofweek: []string{"monday", "friday", "saturday"}, Hours: hours("11:00AM", "12:00PM")},
			open: true, closesIn: time.Minute},
		{name: "OCM: inside a blocked range, opens at its end minute", now: "Sat Jan  1 11:30:00 UTC 0000",
			tw:       &appsv1.TimeWindow{WindowType: "block", Location: "UTC", Daysofweek: []string{"monday", "friday", "saturday"}, Hours: hours("11:00AM", "12:00PM")},
			nextOpen: 30 * time.Minute},
		{name: "blocked range from midnight blocks midnight", now: "Sat Jan  1 00:00:00 UTC 0000",
			tw:       &appsv1.TimeWindow{WindowType: "blocked", Hours: hours("12:00AM", "2:00AM")},
			nextOpen: 2 * time.Hour},
		{name: "blocked range to 11:59PM leaves 11:59PM open", now: "Sat Jan  1 23:59:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "blocked", Hours: hours("10:00PM", "11:59PM")},
			open: true, closesIn: 22*time.Hour + 2*time.Minute},
		{name: "blocked listed day without hours is blocked all day", now: "Mon Jan  3 12:00:00 UTC 0000",
			tw:       &appsv1.TimeWindow{WindowType: "Blocked", Daysofweek: []string{"MONDAY"}},
			nextOpen: 12 * time.Hour},
		{name: "blocked window with unlisted days leaves them open", now: "Tue Jan  4 12:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{WindowType: "blocked", Daysofweek: []string{"Monday"}},
			open: true, closesIn: 5*24*time.Hour + 12*time.Hour},
		{name: "weekday names in any case, duplicates allowed", now: "Mon Jan  3 12:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{Daysofweek: []string{"mOnDaY", "Monday"}},
			open: true, closesIn: 12 * time.Hour},
		{name: "overlapping ranges merge", now: "Sat Jan  1 11:45:00 UTC 0000",
			tw:   &appsv1.TimeWindow{Hours: hours("10:30AM", "11:30AM", "11:10AM", "1:30PM")},
			open: true, closesIn: time.Hour + 46*time.Minute},
		{name: "touching blocked ranges merge and block the shared minute", now: "Sat Jan  1 12:00:00 UTC 0000",
			tw:       &appsv1.TimeWindow{WindowType: "blocked", Hours: hours("11:00AM", "12:00PM", "12:00PM", "1:00PM")},
			nextOpen: time.Hour},
		{name: "reversed range is swapped, not read across midnight", now: "Sat Jan  1 23:00:00 UTC 0000",
			tw:       &appsv1.TimeWindow{Hours: hours("10:00PM", "2:00AM")},
			nextOpen: 3 * time.Hour},
		{name: "a night window written as two ranges", now: "Sat Jan  1 23:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{Hours: hours("10:00PM", "11:59PM", "12:00AM", "2:00AM")},
			open: true, closesIn: 3*time.Hour + time.Minute},
		{name: "hour without leading zero and with one are the same", now: "Sat Jan  1 08:00:00 UTC 0000",
			tw:   &appsv1.TimeWindow{Hours: hours("8:00AM", "08:30AM")},
			open: true, closesIn: 31 * time.Minute},
		{name: "listed days only: no opening the day before (OCM opens then)", now: "Sun Jan  2 11:30:00 UTC 0000",
			tw:       &appsv1.TimeWindow{Daysofweek: []string{"monday"}, Hours: hours("11:00AM", "12:00PM")},
			nextOpen: 23*time.Hour + 30*time.Minute},
		{name: "blocked hours on consecutive listed days (OCM blocks the first all day)", now: "Sun Nov  3 09:30:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "block", Daysofweek: []string{"Sunday", "monday", "friday"},
				Hours: hours("10:30AM", "11:30AM", "12:30PM", "8:30PM")},
			open: true, closesIn: time.Hour + time.Minute},
		{name: "blocked every day all day never opens (OCM allows everything)", now: "Sun Nov  3 09:30:00 UTC 2019",
			tw: &appsv1.TimeWindow{WindowType: "blocked",
				Daysofweek: []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := mustTime(t, unix, tc.now)
			res, err := Evaluate(tc.tw, nil, now)
			if err != nil {
				t.Fatal(err)
			}
			if res.Open != tc.open {
				t.Fatalf("Open = %v, want %v (%s)", res.Open, tc.open, res.Reason)
			}
			checkInstant(t, "NextOpen", res.NextOpen, now, tc.nextOpen)
			checkInstant(t, "ClosesAt", res.ClosesAt, now, tc.closesIn)
			if res.Reason == "" {
				t.Error("Reason is empty")
			}
		})
	}
}

func checkInstant(t *testing.T, what string, got, now time.Time, want time.Duration) {
	t.Helper()
	if want == 0 {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero", what, got)
		}
		return
	}
	if !got.Equal(now.Add(want)) {
		t.Errorf("%s = %v (now+%v), want now+%v", what, got, got.Sub(now), want)
	}
}

func TestReversedRangeWarns(t *testing.T) {
	res, err := Evaluate(&appsv1.TimeWindow{Hours: hours("10:00PM", "2:00AM")}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "spec.timewindow.hours[0]") {
		t.Fatalf("Warnings = %q, want one naming spec.timewindow.hours[0]", res.Warnings)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	d := metav1.Duration{Duration: time.Hour}
	cases := []struct {
		name string
		tw   *appsv1.TimeWindow
		mws  []appsv1.MaintenanceWindow
		want string
	}{
		{"window type", &appsv1.TimeWindow{WindowType: "sometimes"}, nil, `spec.timewindow.windowtype: "sometimes"`},
		{"location", &appsv1.TimeWindow{Location: "Mars/Olympus"}, nil, `spec.timewindow.location: "Mars/Olympus" is not an IANA time zone`},
		{"abbreviated weekday", &appsv1.TimeWindow{Daysofweek: []string{"Monday", "Tue"}}, nil, `spec.timewindow.daysofweek[1]: "Tue" is not a weekday`},
		{"hour out of range", &appsv1.TimeWindow{Hours: hours("8:00AM", "9:00AM", "25:00PM", "11:00PM")}, nil,
			`spec.timewindow.hours[1].start: "25:00PM" is not Kitchen time like "3:04PM"`},
		{"lower-case pm", &appsv1.TimeWindow{Hours: hours("8:00AM", "5:00pm")}, nil, `spec.timewindow.hours[0].end: "5:00pm" is not Kitchen time`},
		{"empty schedule", nil, []appsv1.MaintenanceWindow{{Duration: d}}, `spec.maintenanceWindows[0].schedule: schedule is empty`},
		{"bad cron", nil, []appsv1.MaintenanceWindow{{Schedule: "0 2 * *", Duration: d}}, `spec.maintenanceWindows[0].schedule: "0 2 * *" is not a five-field cron expression`},
		{"six fields", nil, []appsv1.MaintenanceWindow{{Schedule: "0 0 2 * * *", Duration: d}}, `spec.maintenanceWindows[0].schedule: "0 0 2 * * *" is not a five-field`},
		{"@every", nil, []appsv1.MaintenanceWindow{{Schedule: "@daily", Duration: d}, {Schedule: "@every 1h", Duration: d}}, `spec.maintenanceWindows[1].schedule: "@every 1h" has no fixed start times`},
		{"zone in expression", nil, []appsv1.MaintenanceWindow{{Schedule: "TZ=UTC", Duration: d}}, `set the location field instead`},
		{"zero duration", nil, []appsv1.MaintenanceWindow{{Schedule: "0 2 * * *"}}, `spec.maintenanceWindows[0].duration: "0s" must be positive`},
		{"cron location", nil, []appsv1.MaintenanceWindow{{Schedule: "0 2 * * *", Duration: d, Location: "Nowhere"}}, `spec.maintenanceWindows[0].location: "Nowhere"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(tc.tw, tc.mws, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if _, verr := Validate(tc.tw, tc.mws); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Validate error = %v, want %v", verr, err)
			}
		})
	}
}

func TestParseKitchen(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"8:00AM", 480, true}, {"08:00AM", 480, true}, {"12:00AM", 0, true}, {"12:30AM", 30, true},
		{"12:00PM", 720, true}, {"0:00AM", 0, true}, {"0:00PM", 720, true}, {"11:59PM", 1439, true},
		{"3:04PM", 15*60 + 4, true},
		{"8:00am", 0, false}, {"8:00 AM", 0, false}, {"13:00PM", 0, false}, {"8AM", 0, false},
		{"8:0AM", 0, false}, {"", 0, false}, {" 8:00AM", 0, false}, {"8:00AM ", 0, false}, {"20:00", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseKitchen(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseKitchen(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDaylightSaving(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	every := func(from, to string) *appsv1.TimeWindow {
		return &appsv1.TimeWindow{Location: "America/New_York", Hours: hours(from, to)}
	}
	t.Run("a window inside the skipped hour does not open that night", func(t *testing.T) {
		now := time.Date(2026, 3, 8, 1, 0, 0, 0, ny) // 1:00 EST; 2:00 jumps to 3:00
		res, err := Evaluate(every("2:00AM", "2:30AM"), nil, now)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(2026, 3, 9, 2, 0, 0, 0, ny)
		if res.Open || !res.NextOpen.Equal(want) {
			t.Fatalf("got open=%v next=%v, want closed until %v", res.Open, res.NextOpen, want)
		}
	})
	t.Run("a window spanning the skipped hour opens when the clock jumps", func(t *testing.T) {
		now := time.Date(2026, 3, 8, 1, 30, 0, 0, ny)
		res, err := Evaluate(every("2:30AM", "4:00AM"), nil, now)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) // 3:00 EDT, the first instant at or after 2:30 on the wall clock
		if res.Open || !res.NextOpen.Equal(want) {
			t.Fatalf("got open=%v next=%v, want closed until %v", res.Open, res.NextOpen, want)
		}
	})
	t.Run("the repeated hour opens the window twice", func(t *testing.T) {
		now := time.Date(2026, 11, 1, 5, 45, 0, 0, time.UTC) // 1:45 EDT
		res, err := Evaluate(every("1:00AM", "1:30AM"), nil, now)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC) // 1:00 EST
		if res.Open || !res.NextOpen.Equal(want) {
			t.Fatalf("got open=%v next=%v, want closed until %v", res.Open, res.NextOpen, want)
		}
		res, err = Evaluate(every("1:00AM", "1:30AM"), nil, want)
		if err != nil {
			t.Fatal(err)
		}
		if wantClose := time.Date(2026, 11, 1, 6, 31, 0, 0, time.UTC); !res.Open || !res.ClosesAt.Equal(wantClose) {
			t.Fatalf("got open=%v closes=%v, want open until %v", res.Open, res.ClosesAt, wantClose)
		}
	})
	t.Run("a day window across the change keeps local hours", func(t *testing.T) {
		tw := &appsv1.TimeWindow{Location: "Europe/Berlin", Daysofweek: []string{"Monday"}, Hours: hours("8:00AM", "5:00PM")}
		now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC) // Saturday, CET; Sunday the clocks go forward
		res, err := Evaluate(tw, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC); !res.NextOpen.Equal(want) { // 8:00 CEST
			t.Fatalf("NextOpen = %v, want %v", res.NextOpen, want)
		}
	})
}

func TestMaintenanceWindows(t *testing.T) {
	h := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	sat := time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC) // a Saturday
	cases := []struct {
		name     string
		tw       *appsv1.TimeWindow
		mws      []appsv1.MaintenanceWindow
		now      time.Time
		open     bool
		nextOpen time.Time
		closesAt time.Time
	}{
		{name: "inside", mws: []appsv1.MaintenanceWindow{{Schedule: "0 2 * * 6", Duration: h(2 * time.Hour)}},
			now: sat.Add(2*time.Hour + 30*time.Minute), open: true, closesAt: sat.Add(4 * time.Hour)},
		{name: "opens at the scheduled minute", mws: []appsv1.MaintenanceWindow{{Schedule: "0 2 * * 6", Duration: h(2 * time.Hour)}},
			now: sat.Add(2 * time.Hour), open: true, closesAt: sat.Add(4 * time.Hour)},
		{name: "closed at the end of the duration", mws: []appsv1.MaintenanceWindow{{Schedule: "0 2 * * 6", Duration: h(2 * time.Hour)}},
			now: sat.Add(4 * time.Hour), nextOpen: sat.Add(7*24*time.Hour + 2*time.Hour)},
		{name: "before", mws: []appsv1.MaintenanceWindow{{Schedule: "0 2 * * 6", Duration: h(2 * time.Hour)}},
			now: sat.Add(-time.Hour), nextOpen: sat.Add(2 * time.Hour)},
		{name: "the location moves the schedule", mws: []appsv1.MaintenanceWindow{{Schedule: "0 9 * * *", Duration: h(time.Hour), Location: "Europe/Berlin"}},
			now: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), nextOpen: time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)},
		{name: "descriptor", mws: []appsv1.MaintenanceWindow{{Schedule: "@daily", Duration: h(time.Hour)}},
			now: sat.Add(30 * time.Minute), open: true, closesAt: sat.Add(time.Hour)},
		{name: "windows that overlap join", mws: []appsv1.MaintenanceWindow{
			{Schedule: "0 1 * * *", Duration: h(time.Hour)}, {Schedule: "30 1 * * *", Duration: h(time.Hour)}},
			now: sat.Add(time.Hour + 10*time.Minute), open: true, closesAt: sat.Add(2*time.Hour + 30*time.Minute)},
		{name: "a schedule that reopens before it closes never closes", mws: []appsv1.MaintenanceWindow{{Schedule: "*/30 * * * *", Duration: h(30 * time.Minute)}},
			now: sat.Add(5 * time.Minute), open: true},
		{name: "an impossible date never opens", mws: []appsv1.MaintenanceWindow{{Schedule: "0 0 30 2 *", Duration: h(time.Hour)}},
			now: sat},
		{name: "both must allow: timewindow closes first",
			tw:  &appsv1.TimeWindow{Daysofweek: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}, Hours: hours("9:00AM", "5:00PM")},
			mws: []appsv1.MaintenanceWindow{{Schedule: "0 16 * * *", Duration: h(3 * time.Hour)}},
			now: sat.Add(2*24*time.Hour + 16*time.Hour + 30*time.Minute), open: true, closesAt: sat.Add(2*24*time.Hour + 17*time.Hour + time.Minute)},
		{name: "both must allow: waits for the maintenance window",
			tw:  &appsv1.TimeWindow{Daysofweek: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}, Hours: hours("9:00AM", "5:00PM")},
			mws: []appsv1.MaintenanceWindow{{Schedule: "0 16 * * *", Duration: h(3 * time.Hour)}},
			now: sat.Add(2*24*time.Hour + 15*time.Hour), nextOpen: sat.Add(2*24*time.Hour + 16*time.Hour)},
		{name: "both must allow: skips an evening outside the timewindow",
			tw:  &appsv1.TimeWindow{Daysofweek: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}, Hours: hours("9:00AM", "5:00PM")},
			mws: []appsv1.MaintenanceWindow{{Schedule: "0 16 * * *", Duration: h(3 * time.Hour)}},
			now: sat.Add(2*24*time.Hour + 18*time.Hour), nextOpen: sat.Add(3*24*time.Hour + 16*time.Hour)},
		{name: "both must allow: they never meet",
			tw:  &appsv1.TimeWindow{Hours: hours("9:00AM", "5:00PM")},
			mws: []appsv1.MaintenanceWindow{{Schedule: "0 20 * * *", Duration: h(time.Hour)}},
			now: sat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Evaluate(tc.tw, tc.mws, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if res.Open != tc.open || !res.NextOpen.Equal(tc.nextOpen) || !res.ClosesAt.Equal(tc.closesAt) {
				t.Fatalf("got open=%v next=%v closes=%v; want open=%v next=%v closes=%v (%s)",
					res.Open, res.NextOpen, res.ClosesAt, tc.open, tc.nextOpen, tc.closesAt, res.Reason)
			}
			if !res.Open && res.NextOpen.IsZero() && !strings.Contains(res.Reason, "no window opens") {
				t.Errorf("Reason %q does not say that no window opens", res.Reason)
			}
		})
	}
}

// referenceOpen is OCM's rule written plainly, for one wall-clock minute.
func referenceOpen(tw *appsv1.TimeWindow, day time.Weekday, minute int) bool {
	blocked := strings.EqualFold(tw.WindowType, "blocked")
	if len(tw.Daysofweek) == 0 && len(tw.Hours) == 0 {
		return true
	}
	listed := len(tw.Daysofweek) == 0
	for _, d := range tw.Daysofweek {
		if strings.EqualFold(d, day.String()) {
			listed = true
		}
	}
	if !listed {
		return blocked
	}
	if len(tw.Hours) == 0 {
		return !blocked
	}
	var ranges []span
	for _, h := range tw.Hours {
		a, _ := ParseKitchen(h.Start)
		b, _ := ParseKitchen(h.End)
		ranges = append(ranges, span{min(a, b), max(a, b)})
	}
	ranges = mergeSpans(ranges)
	for _, r := range ranges {
		if !blocked && minute >= r.from && minute <= r.to {
			return true
		}
		if blocked && ((minute > r.from && minute < r.to) || (r.from == 0 && minute == 0 && r.to > 0)) {
			return false
		}
	}
	return blocked
}

// TestAgainstMinuteScan checks random windows in zones with daylight saving
// against the plain rule applied minute by minute: NextOpen and ClosesAt must
// be the first minute at which the answer changes.
func TestAgainstMinuteScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"}
	days := []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	kitchen := func() string {
		m := rng.IntN(24*60) / 15 * 15
		return time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format(time.Kitchen)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 150 {
		tw := &appsv1.TimeWindow{Location: zones[rng.IntN(len(zones))]}
		if rng.IntN(2) == 0 {
			tw.WindowType = "blocked"
		}
		for _, d := range days {
			if rng.IntN(3) == 0 {
				tw.Daysofweek = append(tw.Daysofweek, d)
			}
		}
		for range rng.IntN(3) {
			tw.Hours = append(tw.Hours, appsv1.HourRange{Start: kitchen(), End: kitchen()})
		}
		// Around the spring and autumn changes of both hemispheres.
		now := base.Add(time.Duration(rng.IntN(300*24*60)) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second)
		res, err := Evaluate(tw, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := time.LoadLocation(tw.Location)
		refAt := func(at time.Time) bool {
			l := at.In(loc)
			return referenceOpen(tw, l.Weekday(), l.Hour()*60+l.Minute())
		}
		if refAt(now) != res.Open {
			t.Fatalf("case %d %+v at %v: Open=%v, reference says %v", i, tw, now, res.Open, !res.Open)
		}
		want := res.NextOpen
		if res.Open {
			want = res.ClosesAt
		}
		// The first minute boundary after now where the reference changes.
		var found time.Time
		for at := now.Truncate(time.Minute).Add(time.Minute); at.Before(now.Add(16 * 24 * time.Hour)); at = at.Add(time.Minute) {
			if refAt(at) != res.Open {
				found = at
				break
			}
		}
		if !found.Equal(want) {
			t.Fatalf("case %d %+v at %v (open=%v): change at %v, reference finds %v", i, tw, now, res.Open, want, found)
		}
	}
}

func FuzzParseKitchen(f *testing.F) {
	for _, s := range []string{"8:00AM", "08:00AM", "12:00AM", "11:59PM", "0:00PM", "25:00PM", "8:00am", "", "1:1PM"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseKitchen(s)
		if err != nil {
			if !strings.Contains(err.Error(), "is not Kitchen time") {
				t.Fatalf("error %q does not explain the format", err)
			}
			return
		}
		if m < 0 || m >= minutesPerDay {
			t.Fatalf("ParseKitchen(%q) = %d, outside the day", s, m)
		}
		again, err := ParseKitchen(time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format(time.Kitchen))
		if err != nil || again != m {
			t.Fatalf("ParseKitchen(%q) = %d does not round-trip: %d, %v", s, m, again, err)
		}
	})
}

func FuzzMaintenanceWindow(f *testing.F) {
	for _, s := range []string{"0 2 * * 6", "@daily", "*/15 * * * *", "0 0 30 2 *", "TZ=UTC", "CRON_TZ=Europe/Berlin 0 1 * * *",
		"@every 1h", "0-59/0 * * * *", "60 * * * *", "* * * * * *", "0 2 * * MON-FRI", "0 2 L * *"} {
		f.Add(s, int64(90), int64(1780000000))
	}
	f.Fuzz(func(t *testing.T, expr string, minutes int64, unix int64) {
		if minutes <= 0 || minutes > 7*24*60 || unix < 0 || unix > 4e9 {
			return
		}
		mw := appsv1.MaintenanceWindow{Schedule: expr, Duration: metav1.Duration{Duration: time.Duration(minutes) * time.Minute}}
		now := time.Unix(unix, 0)
		res, err := Evaluate(nil, []appsv1.MaintenanceWindow{mw}, now)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "spec.maintenanceWindows[0].schedule: ") {
				t.Fatalf("error %q does not name the field", err)
			}
			return
		}
		switch {
		case res.Open && !res.ClosesAt.IsZero():
			if !res.ClosesAt.After(now) {
				t.Fatalf("%q at %v: closes at %v, not after now", expr, now, res.ClosesAt)
			}
			if after, _ := Evaluate(nil, []appsv1.MaintenanceWindow{mw}, res.ClosesAt); after.Open {
				t.Fatalf("%q: still open at ClosesAt %v", expr, res.ClosesAt)
			}
		case !res.Open && !res.NextOpen.IsZero():
			if !res.NextOpen.After(now) {
				t.Fatalf("%q at %v: opens at %v, not after now", expr, now, res.NextOpen)
			}
			if at, _ := Evaluate(nil, []appsv1.MaintenanceWindow{mw}, res.NextOpen); !at.Open {
				t.Fatalf("%q: not open at NextOpen %v", expr, res.NextOpen)
			}
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	tw := &appsv1.TimeWindow{WindowType: "active", Location: "America/Toronto",
		Daysofweek: []string{"Monday", "Wednesday", "Friday"}, Hours: hours("8:00AM", "11:00AM", "1:00PM", "5:00PM")}
	mws := []appsv1.MaintenanceWindow{{Schedule: "0 16 * * 5", Duration: metav1.Duration{Duration: 3 * time.Hour}, Location: "Europe/Berlin"}}
	now := time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC) // Saturday: both closed
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(tw, mws, now); err != nil {
			b.Fatal(err)
		}
	}
}
