package fleetstatus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PrintOptions choose how Print and Watch show the fleet.
type PrintOptions struct {
	// JSON prints the snapshot as JSON instead of the overview table.
	JSON bool
	// Overview tunes the table.
	Overview OverviewOptions
	// Timeout bounds one read of the hub (30s when zero).
	Timeout time.Duration
}

// Print reads the fleet from the hub once and prints it.
func Print(ctx context.Context, c client.Reader, out io.Writer, o PrintOptions) error {
	data, err := read(ctx, c, o)
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	return err
}

// Watch prints the fleet, then again whenever it changed, reading the hub
// every interval until ctx ends. A failed read is reported on errs and the
// watch goes on: a hub briefly out of reach is no reason to stop.
func Watch(ctx context.Context, c client.Reader, interval time.Duration, out, errs io.Writer, o PrintOptions) error {
	last, err := read(ctx, c, o)
	if err != nil {
		return err
	}
	if _, err := out.Write(last); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := read(ctx, c, o)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			fmt.Fprintf(errs, "ocm-gitops status: %v\n", err)
			continue
		case bytes.Equal(next, last):
			continue
		}
		last = next
		if !o.JSON {
			fmt.Fprintf(out, "\n--- %s\n", time.Now().Format(time.TimeOnly))
		}
		if _, err := out.Write(next); err != nil {
			return err
		}
	}
}

// read collects the fleet and prints it into a buffer.
func read(ctx context.Context, c client.Reader, o PrintOptions) ([]byte, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f, err := Collect(rctx, c)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if o.JSON {
		err = f.WriteJSON(&buf)
	} else {
		err = f.WriteOverview(&buf, o.Overview)
	}
	return buf.Bytes(), err
}
