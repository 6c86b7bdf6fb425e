package procstat

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"testing"
)

func TestSelfAndChildren(t *testing.T) {
	cpu, err := burnUntilCPU(os.Getpid())
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

// burnUntilCPU hashes until the kernel's CPU counter for pid moves off
// zero (it counts in 10 ms ticks). It is bounded by work done, not by wall
// time, which a loaded machine may spend giving it no CPU at all: at most
// 1000 rounds of 1 MiB of SHA-256, about a hundred ticks' worth.
func burnUntilCPU(pid int) (float64, error) {
	buf := make([]byte, 1<<20)
	for round := 0; round < 1000; round++ {
		sum := sha256.Sum256(buf)
		copy(buf, sum[:]) // chained, so no round can be skipped
		if cpu, err := CPU(pid); err != nil || cpu > 0 {
			return cpu, err
		}
	}
	return CPU(pid)
}
