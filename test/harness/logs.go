package harness

import (
	"bytes"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// LogBuffer keeps every log line of the loggers it makes, so a test can
// check what the system logged (and that no secret is among it).
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logger logs into b down to V(verbosity); `--log-level debug` is V(4).
func (b *LogBuffer) Logger(verbosity int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: verbosity})
}

// String is everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
