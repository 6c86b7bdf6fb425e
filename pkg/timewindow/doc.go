// Package timewindow decides whether a Subscription may send changes now, and
// when it may next.
//
// Two kinds of constraint exist, and when both are set both must allow a change:
//
//   - spec.timewindow, OCM's weekly window. An active window allows changes only
//     inside its hours on its days; a blocked window forbids them there.
//   - spec.maintenanceWindows, an ocm-gitops extension: each opens at every time of
//     a five-field cron schedule and stays open for its duration. Changes are
//     allowed while any of them is open.
//
// # OCM compatibility
//
// The weekly window reads exactly as OCM's subscription controller reads it:
//
//   - no days and no hours: the window allows everything, active or blocked;
//   - no days: every day; no hours: the whole day;
//   - hours are Kitchen times ("8:00AM", "08:00AM"; AM/PM in capitals), compared
//     at minute granularity on the wall clock of the location;
//   - an active range includes both of its minutes: 9:00AM–5:00PM is open from
//     9:00:00 until 5:00:59; a blocked range excludes both: it blocks from
//     9:01:00 until 4:59:59, except that a blocked range starting at 12:00AM
//     blocks midnight too;
//   - overlapping or touching ranges are merged;
//   - a range whose end is before its start is swapped, not read across
//     midnight: "10:00PM"–"2:00AM" means 2:00AM–10:00PM (Result.Warnings says
//     so; write 10:00PM–11:59PM and 12:00AM–2:00AM for a night window);
//   - weekday names are full English names in any case ("monday", "Monday");
//   - windowtype "blocked" or "block" in any case blocks; "" or "active" allows;
//   - the location is an IANA zone name; UTC when empty.
//
// Deliberate differences, where OCM's code does not do what its API says:
//
//   - OCM opens an active window with days and hours also on the day before each
//     listed day, and with a blocked window it blocks the whole of a listed day
//     when the next day is listed too, but only the hours otherwise; here the
//     hours apply on exactly the listed days.
//   - OCM's blocked window with every weekday listed and no hours allows
//     everything; here it blocks everything.
//   - OCM ignores unknown weekday names, unparsable hours (it reads them as the
//     current time) and unknown window types, and panics on an unknown location;
//     here each is an error naming the field.
//   - OCM computes the wait in wall-clock minutes, which is an hour off across a
//     daylight-saving change; NextOpen and ClosesAt here are exact instants.
//
// The package embeds the IANA time zone database so that zones resolve on
// images without /usr/share/zoneinfo.
package timewindow
