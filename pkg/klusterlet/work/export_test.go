package work

// WithoutHealth makes an agent leave health out (no verdicts, no health
// conditions), for benchmarks that measure what health costs.
func WithoutHealth(o *Options) { o.noHealth = true }
