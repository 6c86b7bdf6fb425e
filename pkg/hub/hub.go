// Package hub runs the hub's controllers: channels, subscriptions (render,
// place, write ManifestWorks, aggregate status), placement, registration and
// the push-webhook receiver. Each can run alone (--controllers), so ocm-gitops
// can sit beside an OCM hub that already provides some of them.
package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// Options configure the hub.
type Options struct {
	// Controllers to run; empty means all.
	Controllers []string
	// MetricsAddr serves Prometheus metrics ("0" turns them off).
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz ("0" turns them off).
	HealthAddr string
	// WebhookAddr serves the Git push-webhook receiver ("" turns it off).
	WebhookAddr string
	// LeaderElection makes one replica of several active.
	LeaderElection          bool
	LeaderElectionNamespace string
	// CacheDir holds Git clones and artifact snapshots.
	CacheDir string
	// Logger is the root logger.
	Logger logr.Logger
}

// Deps are the shared pieces a controller may need.
type Deps struct {
	Options  Options
	Store    *source.Store
	Renderer *render.Renderer
}

// controller is one named hub controller.
type controller struct {
	name  string
	setup func(mgr ctrl.Manager, deps *Deps) error
}

// controllers lists every hub controller, in start order.
func controllers() []controller {
	return []controller{
		{"channel", setupChannel},
		{"subscription", setupSubscription},
	}
}

// ControllerNames lists the controllers --controllers accepts.
func ControllerNames() []string {
	var names []string
	for _, c := range controllers() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}

// Run starts the selected controllers against the hub and blocks until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	selected, err := selectControllers(opts.Controllers)
	if err != nil {
		return err
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(os.TempDir(), "ocm-gitops-hub-cache")
	}
	metricsAddr := opts.MetricsAddr
	if metricsAddr == "" {
		metricsAddr = "0"
	}
	healthAddr := opts.HealthAddr
	if healthAddr == "" {
		healthAddr = "0"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Logger:                  opts.Logger,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  healthAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "ocm-gitops-hub",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
	})
	if err != nil {
		return fmt.Errorf("create hub manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	deps := &Deps{
		Options:  opts,
		Store:    source.NewStore(opts.CacheDir, opts.Logger.WithName("source")),
		Renderer: render.NewRenderer(),
	}
	for _, c := range selected {
		if err := c.setup(mgr, deps); err != nil {
			return fmt.Errorf("set up %s controller: %w", c.name, err)
		}
	}
	opts.Logger.Info("hub starting", "controllers", names(selected))
	return mgr.Start(ctx)
}

func selectControllers(want []string) ([]controller, error) {
	all := controllers()
	if len(want) == 0 {
		return all, nil
	}
	byName := map[string]controller{}
	for _, c := range all {
		byName[c.name] = c
	}
	var out []controller
	for _, n := range want {
		n = strings.TrimSpace(n)
		c, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("--controllers: unknown controller %q; choose from %s", n, strings.Join(ControllerNames(), ","))
		}
		out = append(out, c)
	}
	return out, nil
}

func names(cs []controller) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}
