// Package procstat reads what Linux's /proc says about processes: CPU time
// and memory. Benchmarks and the scale harness use it to report what each
// process of a test control plane (kube-apiserver, etcd, the hub) cost.
// It imports only the standard library, so any package's tests can use it.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat.
const clockTicks = 100

// stat returns the command name of a process and the fields of its
// /proc/<pid>/stat after the name (state first).
func stat(pid int) (name string, fields []string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil, err
	}
	s := string(data)
	// The name is in parentheses and may itself hold spaces and ')'.
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return "", nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return s[open+1 : end], strings.Fields(s[end+2:]), nil
}

// CPU returns the CPU seconds (user + system) a process has used.
func CPU(pid int) (float64, error) {
	_, f, err := stat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	user, _ := strconv.ParseFloat(f[11], 64)
	system, _ := strconv.ParseFloat(f[12], 64)
	return (user + system) / clockTicks, nil
}

// Memory returns a process's resident set size and its peak, in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// Children returns the pids of this process's direct children by command
// name (a test control plane's kube-apiserver and etcd). Of children sharing
// a name, one is kept.
func Children() map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, f, err := stat(pid)
		if err != nil || len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == me {
			out[name] = pid
		}
	}
	return out
}
