package drift

import "time"

// Corrections paces the correction of drift on one object, so that a
// controller that keeps undoing the agent's writes is not fought at watch
// speed: three corrections within a minute are free, then each waits twice
// as long as the last (from 1 s up to about 4 min).
type Corrections struct {
	count int
	last  time.Time
	next  time.Time
}

const (
	freeCorrections = 3
	quietPeriod     = time.Minute
	maxBackoff      = 5 * time.Minute
)

// Allowed says whether a correction may be made now.
func (c *Corrections) Allowed(now time.Time) bool {
	if now.Sub(c.last) > quietPeriod {
		c.count = 0
	}
	return c.count < freeCorrections || !now.Before(c.next)
}

// Made records a correction made at now.
func (c *Corrections) Made(now time.Time) {
	if now.Sub(c.last) > quietPeriod {
		c.count = 0
	}
	c.count++
	c.last = now
	if c.count >= freeCorrections {
		c.next = now.Add(min(time.Duration(1<<min(c.count-freeCorrections, 8))*time.Second, maxBackoff))
	}
}

// Next is when the next correction may be made; zero while corrections are free.
func (c *Corrections) Next() time.Time {
	if c.count < freeCorrections {
		return time.Time{}
	}
	return c.next
}
