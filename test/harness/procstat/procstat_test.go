package procstat

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestSelfAndChildren(t *testing.T) {
	// Burn some CPU so the reading cannot be zero by luck.
	start := time.Now()
	for x := 0; time.Since(start) < 50*time.Millisecond; x++ {
		_ = x * x
	}
	cpu, err := CPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU(self) = %v, %v; want > 0", cpu, err)
	}
	rss, peak, err := Memory(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("Memory(self) = %d, %d, %v; want 0 < rss <= peak", rss, peak, err)
	}

	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if got := Children()["sleep"]; got != cmd.Process.Pid {
		t.Errorf("Children()[sleep] = %d, want %d", got, cmd.Process.Pid)
	}
	if _, err := CPU(-1); err == nil {
		t.Error("CPU of a process that does not exist gives no error")
	}
}
