package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ocm-gitops/ocm-gitops/test/harness/procstat"
)

// cpuMeter reads the CPU used by a set of processes between two instants.
type cpuMeter struct {
	pids  map[string]int
	start map[string]float64
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]float64{}}
	for name, pid := range pids {
		m.start[name], _ = procstat.CPU(pid)
	}
	return m
}

// used returns the CPU seconds each process used since the meter started.
func (m *cpuMeter) used() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range m.pids {
		now, _ := procstat.CPU(pid)
		out[name] = now - m.start[name]
	}
	return out
}

// memSampler records the peak RSS of a process and the peak Go heap it
// reports on its Prometheus endpoint, sampling every interval.
type memSampler struct {
	mu       sync.Mutex
	peakRSS  int64
	peakHeap float64
	stop     context.CancelFunc
	done     chan struct{}
}

func sampleMemory(pid int, metricsURL string, interval time.Duration) *memSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &memSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rss, _, _ := procstat.Memory(pid)
			var heap float64
			if metricsURL != "" {
				if m, err := scrape(ctx, http.DefaultClient, metricsURL); err == nil {
					heap = m.sum("go_memstats_heap_inuse_bytes", nil)
				}
			}
			s.mu.Lock()
			s.peakRSS = max(s.peakRSS, rss)
			s.peakHeap = max(s.peakHeap, heap)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// peaks returns the peak RSS and heap seen so far.
func (s *memSampler) peaks() (int64, float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.peakHeap
}

func (s *memSampler) close() {
	s.stop()
	<-s.done
}

// metrics are Prometheus samples: name, labels, value.
type metrics []sample

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// sum adds the samples of a metric whose labels include want.
func (m metrics) sum(name string, want map[string]string) float64 {
	var total float64
next:
	for _, s := range m {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// scrape reads a Prometheus text endpoint.
func scrape(ctx context.Context, c *http.Client, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format, skipping comments.
func parseMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			s.name = line[:i]
			for _, kv := range splitLabels(line[i+1 : j]) {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			name, r, _ := strings.Cut(line, " ")
			s.name, rest = name, r
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
