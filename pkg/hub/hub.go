// Package hub runs the hub's controllers: channels, subscriptions (render,
// place, write ManifestWorks, aggregate status), placement, registration and
// the push-webhook receiver. Each can run alone (--controllers), so ocm-gitops
// can sit beside an OCM hub that already provides some of them.
package hub

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	workv1 "open-cluster-management.io/api/work/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/commitstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/index"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub/webhook"
	"github.com/ocm-gitops/ocm-gitops/pkg/metrics"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
	"github.com/ocm-gitops/ocm-gitops/pkg/tenancy"
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
	// HubID, when set, is added to commit status contexts so several hubs can
	// report on one repository without overwriting each other.
	HubID string
	// Registration configures the hub's half of cluster registration:
	// approving and signing certificate requests, per-cluster RBAC, leases.
	Registration reghub.Options
	// Tenancy says which Channels a namespace's Subscriptions may use and
	// what tenant namespaces' direct placement reaches.
	Tenancy tenancy.Options
	// AllowLocalGit lets Git Channels read repositories on the hub's disk
	// (file:// URLs); for labs and tests only.
	AllowLocalGit bool
	// AllowNetworks are the loopback, link-local or private networks
	// Channels and commit-status APIs may reach; public addresses always
	// may. The lab and tests allow egress.Loopback().
	AllowNetworks []netip.Prefix
	// CacheDir holds Git clones and artifact snapshots.
	CacheDir string
	// Logger is the root logger.
	Logger logr.Logger
	// DeletionBudgetPercent is the largest share of a Subscription's
	// clusters one change may remove its objects from without confirmation,
	// for Subscriptions without spec.deletionBudgetPercent; 100 turns the
	// budget off. Nil means DefaultDeletionBudgetPercent.
	DeletionBudgetPercent *int32
	// Clock tells time windows and rollout timers the time; the real clock
	// when nil. Tests move a fake one.
	Clock clock.PassiveClock
}

// Deps are the shared pieces a controller may need.
type Deps struct {
	Options  Options
	Store    *source.Store
	Renderer *render.Renderer
}

// hubController is one named hub controller.
type hubController struct {
	name string
	// indexes are the shared field indexes (package index) it lists by.
	indexes []string
	// works: it reads ManifestWorks, whose CRD a hub running only other
	// controllers (placement beside another hub's work API) may not have.
	works bool
	setup func(mgr ctrl.Manager, deps *Deps) error
}

// controllers lists every hub controller, in start order.
func controllers() []hubController {
	return []hubController{
		{name: "placement", setup: func(mgr ctrl.Manager, _ *Deps) error { return placement.SetupWithManager(mgr) }},
		{name: placement.RuleControllerName, setup: func(mgr ctrl.Manager, _ *Deps) error { return placement.SetupRuleWithManager(mgr) }},
		{name: "channel", indexes: []string{index.SubscriptionChannel}, setup: setupChannel},
		{name: "subscription", indexes: []string{index.SubscriptionChannel}, works: true, setup: setupSubscription},
		{name: "registration", setup: func(mgr ctrl.Manager, deps *Deps) error {
			return reghub.SetupHubWithManager(mgr, deps.Options.Registration)
		}},
		{name: "commitstatus", indexes: []string{index.SubscriptionChannel}, setup: func(mgr ctrl.Manager, deps *Deps) error {
			return commitstatus.SetupWithManager(mgr, commitstatus.Options{HubID: deps.Options.HubID, Tenancy: deps.Options.Tenancy,
				HTTPClient: gitprovider.NewHTTPClient(egress.Allow(deps.Options.AllowNetworks...))})
		}},
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
	rec, err := metrics.NewRecorder(nil) // nil: controller-runtime's registry
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme.New(),
		Cache:  cacheOptions(slices.ContainsFunc(selected, func(c hubController) bool { return c.works })),
		// Channel credentials are read one by one, never listed or cached:
		// the hub needs no cluster-wide read access to Secrets.
		Client:    client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}},
		NewClient: rec.NewClient,
		// Several managers share a process in the lab and in tests.
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
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
		Options: opts,
		Store: source.NewStore(opts.CacheDir, opts.Logger.WithName("source"),
			source.WithLocalRepositories(opts.AllowLocalGit), source.WithObserver(rec),
			source.WithEgress(egress.Allow(opts.AllowNetworks...))),
		Renderer: render.NewRenderer(render.Options{
			Egress:   egress.Allow(opts.AllowNetworks...),
			CacheDir: filepath.Join(opts.CacheDir, "charts"),
			Logger:   opts.Logger.WithName("render"),
			Observer: rec,
		}),
	}
	if slices.ContainsFunc(selected, func(c hubController) bool { return c.name == "subscription" }) {
		if err := metrics.AddFleetCollector(mgr, nil); err != nil {
			return fmt.Errorf("fleet metrics: %w", err)
		}
	}
	// Shared indexes are registered once, for whichever controllers list by them.
	var indexes []string
	for _, c := range selected {
		indexes = append(indexes, c.indexes...)
	}
	if opts.WebhookAddr != "" {
		indexes = append(indexes, index.SubscriptionChannel)
	}
	if err := index.Add(ctx, mgr.GetFieldIndexer(), indexes...); err != nil {
		return err
	}
	for _, c := range selected {
		if err := c.setup(mgr, deps); err != nil {
			return fmt.Errorf("set up %s controller: %w", c.name, err)
		}
	}
	if opts.WebhookAddr != "" {
		if err := webhook.SetupWithManager(mgr, opts.WebhookAddr); err != nil {
			return fmt.Errorf("set up the push-webhook receiver on %s: %w", opts.WebhookAddr, err)
		}
	}
	opts.Logger.Info("hub starting", "controllers", names(selected))
	return mgr.Start(ctx)
}

// cacheOptions keep the hub's memory flat as the fleet grows: only our
// ManifestWorks are cached, and without their manifests (the hub compares
// content hashes, never the manifests themselves). Without works (no
// controller reads them) nothing is said of ManifestWorks, as the cache
// would need their CRD to start.
func cacheOptions(works bool) cache.Options {
	if !works {
		return cache.Options{}
	}
	ours, _ := labels.NewRequirement(appsv1.LabelSubscription, selection.Exists, nil)
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&workv1.ManifestWork{}: {
			Label:     labels.NewSelector().Add(*ours),
			Transform: stripManifests,
		},
	}}
}

func stripManifests(obj any) (any, error) {
	if w, ok := obj.(*workv1.ManifestWork); ok {
		w.Spec.Workload.Manifests = nil
		w.Spec.ManifestConfigs = nil
		// Keep when each writer last wrote (rollout deadlines start there),
		// not the fields it owns.
		for i := range w.ManagedFields {
			w.ManagedFields[i].FieldsV1 = nil
		}
		w.Status.ResourceStatus.Manifests = troubledManifests(w.Status.ResourceStatus.Manifests)
	}
	return obj, nil
}

// troubledManifests keeps of a work's per-manifest status what the hub
// reports: the manifests that failed to apply, drifted, are degraded, not
// healthy yet or override other works, with only those conditions. A healthy work's entries (five
// conditions per manifest) would otherwise be most of the cache at
// thousands of clusters.
func troubledManifests(ms []workv1.ManifestCondition) []workv1.ManifestCondition {
	var out []workv1.ManifestCondition
	for _, m := range ms {
		var conds []metav1.Condition
		for _, c := range m.Conditions {
			if troubled(c) {
				conds = append(conds, c)
			}
		}
		if len(conds) > 0 {
			out = append(out, workv1.ManifestCondition{ResourceMeta: m.ResourceMeta, Conditions: conds})
		}
	}
	return out
}

// troubled reports a manifest condition that says something is wrong or
// under way.
func troubled(c metav1.Condition) bool {
	switch c.Type {
	case workv1.ManifestApplied:
		return c.Status == metav1.ConditionFalse
	case appsv1.WorkConditionDrifted, workv1.ManifestProgressing, appsv1.WorkConditionOverrides:
		return c.Status == metav1.ConditionTrue
	case workv1.ManifestDegraded:
		return c.Status != metav1.ConditionFalse
	}
	return false
}

func selectControllers(want []string) ([]hubController, error) {
	all := controllers()
	if len(want) == 0 {
		return all, nil
	}
	byName := map[string]hubController{}
	for _, c := range all {
		byName[c.name] = c
	}
	var out []hubController
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

func names(cs []hubController) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}
