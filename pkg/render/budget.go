package render

import (
	"fmt"
	"sync/atomic"
)

// outputBudget counts the JSON bytes of one render's objects as they are
// decoded, so a render stops at the unit that crosses its limit, and holds
// them against the Renderer's budget for all renders in progress, so many
// large renders at once cannot add up without bound.
type outputBudget struct {
	limit int64
	used  int64
	// global is what all renders in progress hold together, at most globalMax.
	global    *atomic.Int64
	globalMax int64
}

// overLimitError: the render is larger than one render may be. It is a
// verdict on the input.
type overLimitError struct{ used, limit int64 }

func (e *overLimitError) Error() string {
	return fmt.Sprintf("the render is more than %d bytes of JSON, over the %d-byte limit", e.used, e.limit)
}

// busyError: the renders in progress hold the whole global budget. It is
// transient: the render is tried again later.
type busyError struct{ limit int64 }

func (e *busyError) Error() string {
	return fmt.Sprintf("the renders in progress hold the renderer's whole budget of %d bytes; try again later (or raise the hub's render budget)", e.limit)
}

// charge adds n bytes to the render.
func (b *outputBudget) charge(n int64) error {
	if b == nil {
		return nil
	}
	if b.used+n > b.limit {
		return &overLimitError{used: b.used + n, limit: b.limit}
	}
	if b.global != nil {
		if b.global.Add(n) > b.globalMax {
			b.global.Add(-n)
			return &busyError{limit: b.globalMax}
		}
	}
	b.used += n
	return nil
}

// release gives the render's bytes back to the global budget.
func (b *outputBudget) release() {
	if b != nil && b.global != nil {
		b.global.Add(-b.used)
	}
}
