package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/hubside"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/registration"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
)

// DefaultGitAddr is where the lab serves its Git repositories, so the Channels
// in channels/ can name a fixed URL.
const DefaultGitAddr = "127.0.0.1:8765"

// AgentFunc runs the agent of one managed cluster until ctx ends.
type AgentFunc func(ctx context.Context, hubConfig, clusterConfig *rest.Config, clusterName string) error

// Options configure a lab.
type Options struct {
	// Clusters is the number of managed clusters (cluster1 … clusterN).
	Clusters int
	// Dir receives the kubeconfigs and the hub's cache.
	Dir string
	// AssetsDir holds kube-apiserver and etcd (see FindAssets).
	AssetsDir string
	// GitAddr is the Git server's address; DefaultGitAddr when empty.
	GitAddr string
	// Example serves ExampleDir as fleet.git and applies the Channel and
	// Subscription files found in ApplyDirs to the hub.
	Example    bool
	ExampleDir string
	ApplyDirs  []string
	// Agent runs each cluster's agent; the full klusterlet, joining through
	// bootstrap registration, when nil.
	Agent AgentFunc
	// Progress receives one line per step; nil is quiet.
	Progress io.Writer
	Logger   logr.Logger
}

// Lab is a running hub, its managed clusters, their agents and a Git server.
type Lab struct {
	Hub      *ControlPlane
	Clusters []*ControlPlane
	Git      *GitServer
	// FleetURL is the clone URL of the example fleet repo ("" without Example).
	FleetURL string
	// WebhookURL is the hub's push-webhook receiver; the lab's Git server
	// calls it on every push.
	WebhookURL string
	// Kubeconfigs maps control plane names to their kubeconfig files.
	Kubeconfigs map[string]string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// ClusterName is the name of the i-th managed cluster (from 1).
func ClusterName(i int) string { return fmt.Sprintf("cluster%d", i) }

// Start brings a lab up. On error, everything started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	if opts.Clusters < 1 {
		return nil, fmt.Errorf("--clusters must be at least 1, got %d", opts.Clusters)
	}
	if opts.Dir == "" {
		return nil, errors.New("lab: no directory given for kubeconfigs")
	}
	if opts.GitAddr == "" {
		opts.GitAddr = DefaultGitAddr
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	assets, err := FindAssets(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &Lab{cancel: cancel, Kubeconfigs: map[string]string{}}
	defer func() {
		if err != nil {
			_ = l.Stop()
		}
	}()

	started := time.Now()
	fmt.Fprintf(progress, "starting %d control planes (etcd + kube-apiserver each)...\n", opts.Clusters+1)
	if err := l.startControlPlanes(ctx, assets, opts.Clusters); err != nil {
		return nil, err
	}
	for _, cp := range append([]*ControlPlane{l.Hub}, l.Clusters...) {
		path := filepath.Join(opts.Dir, cp.Name+".kubeconfig")
		if err := cp.WriteKubeconfig(path); err != nil {
			return nil, fmt.Errorf("write kubeconfig of %s: %w", cp.Name, err)
		}
		l.Kubeconfigs[cp.Name] = path
	}
	fmt.Fprintf(progress, "control planes up in %s\n", time.Since(started).Round(100*time.Millisecond))

	hubClient, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	if err := registerClusters(ctx, hubClient, l.Clusters); err != nil {
		return nil, err
	}

	webhookAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	l.WebhookURL = "http://" + webhookAddr + "/webhook"
	l.run("hub", func() error {
		return hub.Run(runCtx, l.Hub.Config, hub.Options{
			CacheDir: filepath.Join(opts.Dir, "hub-cache"), Logger: opts.Logger.WithName("hub"),
			MetricsAddr: "0", HealthAddr: "0", WebhookAddr: webhookAddr,
			// The lab's hub has no kube-controller-manager: the hub signs
			// the clusters' certificates itself.
			Registration: hubside.Options{
				CACertPEM: l.Hub.ClientCA.CertPEM, CAKeyPEM: l.Hub.ClientCA.KeyPEM,
				AutoApproveUsers: []string{BootstrapUser},
			},
		})
	})
	agent := opts.Agent
	if agent == nil {
		bootstrap, err := l.Hub.UserConfig(BootstrapUser, registration.DefaultBootstrapGroup)
		if err != nil {
			return nil, fmt.Errorf("bootstrap identity: %w", err)
		}
		agent = klusterletAgent(bootstrap, opts.Dir, opts.Logger)
	}
	for _, cp := range l.Clusters {
		l.run("agent "+cp.Name, func() error {
			return agent(runCtx, l.Hub.Config, cp.Config, cp.Name)
		})
	}
	fmt.Fprintf(progress, "hub controllers and %d agents running\n", len(l.Clusters))

	if opts.Example {
		notifier := &pushNotifier{
			webhookURL: l.WebhookURL,
			repoURL:    func(repo string) string { return l.Git.URL + "/" + repo },
			client:     &http.Client{Timeout: 10 * time.Second},
			log:        opts.Logger.WithName("git"),
		}
		l.Git, err = StartGitServer(filepath.Join(opts.Dir, "git"), opts.GitAddr, notifier.notify)
		if err != nil {
			return nil, err
		}
		_ = os.RemoveAll(filepath.Join(opts.Dir, "git", "fleet.git"))
		if l.FleetURL, err = l.Git.CreateRepo(ctx, "fleet.git", opts.ExampleDir); err != nil {
			return nil, fmt.Errorf("serve the example fleet repo: %w", err)
		}
		fmt.Fprintf(progress, "fleet repo served at %s\n", l.FleetURL)
		// channels/ names the default address; a lab started elsewhere
		// points the Channels it applies at its own server instead.
		rewrite := map[string]string{"http://" + DefaultGitAddr + "/": l.Git.URL + "/"}
		for _, dir := range opts.ApplyDirs {
			n, err := ApplyDir(ctx, hubClient, dir, rewrite)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(progress, "applied %d objects from %s\n", n, dir)
		}
	}
	return l, nil
}

func (l *Lab) startControlPlanes(ctx context.Context, assets string, n int) error {
	planes := make([]*ControlPlane, n+1)
	g, gctx := errgroup.WithContext(ctx)
	for i := range planes {
		g.Go(func() error {
			name, role := "hub", RoleHub
			if i > 0 {
				name, role = ClusterName(i), RoleManaged
			}
			cp, err := StartControlPlane(gctx, name, role, assets)
			planes[i] = cp
			return err
		})
	}
	err := g.Wait()
	l.Hub, l.Clusters = planes[0], planes[1:]
	return err
}

// run starts a component; its error, if any, is reported by Stop.
func (l *Lab) run(name string, f func() error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s: %w", name, err))
			l.mu.Unlock()
		}
	}()
}

// Err returns the errors of components that stopped on their own.
func (l *Lab) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

// Stop shuts everything down: controllers and agents first, then the Git
// server and the control planes.
func (l *Lab) Stop() error {
	l.cancel()
	l.wg.Wait()
	errs := []error{l.Err()}
	if l.Git != nil {
		errs = append(errs, l.Git.Close())
	}
	var g errgroup.Group
	for _, cp := range append([]*ControlPlane{l.Hub}, l.Clusters...) {
		if cp != nil {
			g.Go(cp.Stop)
		}
	}
	errs = append(errs, g.Wait())
	return errors.Join(errs...)
}

// BootstrapUser is the identity the lab's klusterlets join the hub with; the
// hub accepts its clusters without an administrator.
const BootstrapUser = "system:bootstrap:lab"

// klusterletAgent runs the full klusterlet: it joins the hub with the
// bootstrap identity (certificate request, approval, signing), keeps the
// issued hub kubeconfig in dir, renews its Lease and applies its works.
func klusterletAgent(bootstrap *rest.Config, dir string, log logr.Logger) AgentFunc {
	return func(ctx context.Context, _, clusterConfig *rest.Config, name string) error {
		return klusterlet.Run(ctx, klusterlet.Options{
			ClusterName: name, Managed: clusterConfig, Bootstrap: bootstrap,
			HubKubeconfigPath: filepath.Join(dir, name+"-hub-identity.kubeconfig"),
			Logger:            log.WithName("klusterlet").WithValues("cluster", name),
		})
	}
}

// registerClusters creates an accepted ManagedCluster and its namespace on the
// hub for each managed control plane, labelled so placements have something to
// select: region alternates east/west, env is dev for cluster1 and prod after.
func registerClusters(ctx context.Context, c client.Client, clusters []*ControlPlane) error {
	for i, cp := range clusters {
		region, env := "east", "prod"
		if i%2 == 1 {
			region = "west"
		}
		if i == 0 {
			env = "dev"
		}
		mc := &clusterv1.ManagedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: cp.Name, Labels: map[string]string{
				"name": cp.Name, "region": region, "env": env, "cluster.open-cluster-management.io/clusterset": "default",
			}},
			Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
		}
		for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cp.Name}}, mc} {
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("register %s on the hub: %w", cp.Name, err)
			}
		}
	}
	return nil
}

// ApplyDir server-side applies every YAML document of the .yaml files in dir
// (in file name order), after replacing each key of rewrite by its value in
// the files' text, and returns how many objects it applied.
func ApplyDir(ctx context.Context, c client.Client, dir string, rewrite map[string]string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return n, err
		}
		for from, to := range rewrite {
			data = bytes.ReplaceAll(data, []byte(from), []byte(to))
		}
		objs, err := render.DecodeYAML(data)
		if err != nil {
			return n, fmt.Errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("ocm-gitops-lab"), client.ForceOwnership); err != nil {
				return n, fmt.Errorf("apply %s %s from %s: %w", o.GetKind(), o.GetName(), f, err)
			}
			n++
		}
	}
	return n, nil
}
