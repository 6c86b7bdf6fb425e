package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// logFlags are the logging flags every long-running command shares.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *pflag.FlagSet, defaultLevel string) {
	fs.StringVar(&l.level, "log-level", defaultLevel, "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

// logger builds a structured logr.Logger on the standard library's slog.
func (l *logFlags) logger(w io.Writer) (logr.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return logr.Discard(), usageErrorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "text":
		return logr.FromSlogHandler(slog.NewTextHandler(w, opts)), nil
	case "json":
		return logr.FromSlogHandler(slog.NewJSONHandler(w, opts)), nil
	}
	return logr.Discard(), usageErrorf("--log-format %q: want text or json", l.format)
}

// clientFlags are the Kubernetes client flags of a command talking to one API server.
type clientFlags struct {
	kubeconfig string
	qps        float64
	burst      int
}

func (c *clientFlags) register(fs *pflag.FlagSet, name, usage string) {
	fs.StringVar(&c.kubeconfig, name, "", usage)
	// High enough that the API server, which queues and sheds load itself
	// (API Priority and Fairness), paces the hub's writes; the hub bounds
	// its requests in flight. At 200 a fan-out of 50,000 ManifestWorks took
	// over four minutes on a 2-core hub whose API server accepts ~500 creates/s
	// (docs/performance.md).
	fs.Float64Var(&c.qps, "kube-api-qps", 2000, "client requests per second to the API server (negative: unlimited)")
	fs.IntVar(&c.burst, "kube-api-burst", 4000, "client request burst to the API server")
}

// config loads the kubeconfig, or the in-cluster configuration when none is given.
func (c *clientFlags) config(flagName string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if c.kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, usageErrorf("--%s is not set and this is not running in a cluster (%v): pass a kubeconfig file", flagName, err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flagName, c.kubeconfig, err)
		}
	}
	cfg.QPS, cfg.Burst = float32(c.qps), c.burst
	return cfg, nil
}

// hubFlags say how a day-2 command reaches the hub, as kubectl does:
// --kubeconfig (or --hub-kubeconfig), else $KUBECONFIG, else ~/.kube/config,
// else the in-cluster configuration; --context picks a context.
type hubFlags struct {
	kubeconfig    string
	hubKubeconfig string
	context       string
}

func (h *hubFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig of the hub (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&h.kubeconfig, "kubeconfig", "", "same as --hub-kubeconfig, as kubectl spells it")
	fs.StringVar(&h.context, "context", "", "kubeconfig context to use (default: its current context)")
}

// path is the kubeconfig file given, a flag on the command line winning over
// one from the environment.
func (h *hubFlags) path(fs *pflag.FlagSet) (flagName, path string) {
	switch {
	case givenOnCommandLine(fs, "hub-kubeconfig") || (h.hubKubeconfig != "" && !givenOnCommandLine(fs, "kubeconfig")):
		return "hub-kubeconfig", h.hubKubeconfig
	case h.kubeconfig != "":
		return "kubeconfig", h.kubeconfig
	}
	return "", ""
}

// clientConfig is the kubeconfig as the flags select it.
func (h *hubFlags) clientConfig(fs *pflag.FlagSet) clientcmd.ClientConfig {
	_, path := h.path(fs)
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: h.context})
}

// contextNamespace is the namespace of the kubeconfig's context, else "default".
func (h *hubFlags) contextNamespace(fs *pflag.FlagSet) string {
	ns, _, err := h.clientConfig(fs).Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// config loads the hub's client configuration.
func (h *hubFlags) config(fs *pflag.FlagSet) (*rest.Config, error) {
	flagName, path := h.path(fs)
	cfg, err := h.clientConfig(fs).ClientConfig()
	switch {
	case err == nil:
	case path != "":
		return nil, usageErrorf("--%s %s: %v", flagName, path, err)
	case h.context != "":
		return nil, usageErrorf("--context %s: %v", h.context, err)
	default:
		inCluster, ierr := rest.InClusterConfig()
		if ierr != nil {
			return nil, usageErrorf("no hub to talk to: pass --hub-kubeconfig (or --kubeconfig), or set $KUBECONFIG (%v)", err)
		}
		cfg = inCluster
	}
	// Listing a fleet takes a few requests; client-go's default of 5/s
	// would make a tree or trace of a large fleet wait for nothing.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}
