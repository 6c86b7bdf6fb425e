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
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	clusterv1beta2 "open-cluster-management.io/api/cluster/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ocm-gitops/ocm-gitops/deploy/crds"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/egress"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet"
	"github.com/ocm-gitops/ocm-gitops/pkg/placement"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
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
	// HelmAddr is the Helm repository's address. When empty it is
	// DefaultHelmAddr if GitAddr is the default one, else a free loopback
	// port (tests that move the Git server move this one too).
	HelmAddr string
	// Example serves ExampleDir as fleet.git and HelmRepoDir as a Helm
	// repository, and applies the Channel and Subscription files found in
	// ApplyDirs to the hub. It turns LocalCluster on: the example's hub
	// objects arrive through a local Subscription.
	Example    bool
	ExampleDir string
	// HelmRepoDir holds the chart folders (and versions.yaml) the lab
	// publishes; ExampleDir/helm-repo-src when empty and that exists.
	HelmRepoDir string
	ApplyDirs   []string
	// LocalCluster registers the hub itself as the managed cluster
	// "local-cluster", with an agent that applies to the hub, as OCM's
	// self-managed hub does; Subscriptions with placement.local need it.
	LocalCluster bool
	// Agent runs each cluster's agent; the full klusterlet, joining through
	// bootstrap registration, when nil. Start waits for the full
	// klusterlets to join; a custom agent is not waited for.
	Agent AgentFunc
	// Workloads makes each managed cluster run pods: kube-controller-manager,
	// kube-scheduler and kwok with Nodes fake nodes (DefaultNodes when 0);
	// see ControlPlane.StartWorkloads. The hub (local-cluster) gets none: it
	// runs only the hub's own objects.
	Workloads bool
	Nodes     int
	// Progress receives one line per step; nil is quiet.
	Progress io.Writer
	Logger   logr.Logger
}

// Lab is a running hub, its managed clusters, their agents, a Git server and
// a Helm repository.
type Lab struct {
	Hub      *ControlPlane
	Clusters []*ControlPlane
	// LocalCluster says the hub is also the managed cluster "local-cluster".
	LocalCluster bool
	Git          *GitServer
	Helm         *HelmRepo
	// FleetURL is the clone URL of the example fleet repo ("" without Example).
	FleetURL string
	// FleetRepo says whether the fleet repo was kept from an earlier lab.
	FleetRepo Repo
	// WebhookURL is the hub's push-webhook receiver; the lab's Git server
	// calls it on every push.
	WebhookURL string
	// Kubeconfigs maps control plane names to their kubeconfig files.
	Kubeconfigs map[string]string

	hubClient client.Client
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	mu        sync.Mutex
	errs      []error
	stopOnce  sync.Once
	stopErr   error
}

// ClusterName is the name of the i-th managed cluster (from 1).
func ClusterName(i int) string { return fmt.Sprintf("cluster%d", i) }

// LocalClusterName is the hub's name as a managed cluster of itself.
const LocalClusterName = placement.LocalCluster

// ClusterLabels are the labels the lab gives the i-th managed cluster (from
// 1), so that placements have something to select: region alternates
// east/west, env is dev for cluster1 and prod after, and every cluster is in
// the ManagedClusterSet "default".
func ClusterLabels(i int) map[string]string {
	region, env := "east", "prod"
	if i%2 == 0 {
		region = "west"
	}
	if i == 1 {
		env = "dev"
	}
	return map[string]string{
		"name": ClusterName(i), "region": region, "env": env,
		clusterv1beta2.ClusterSetLabel: "default",
	}
}

// Start brings a lab up. On error, everything started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	if opts.Clusters < 1 {
		return nil, fmt.Errorf("--clusters must be at least 1, got %d", opts.Clusters)
	}
	if opts.Dir == "" {
		return nil, errors.New("lab: no directory given for kubeconfigs")
	}
	opts.setDefaults()
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	assets, err := FindAssets(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(opts.Dir); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &Lab{cancel: cancel, Kubeconfigs: map[string]string{}, LocalCluster: opts.LocalCluster}
	defer func() {
		if err != nil {
			_ = l.Stop()
		}
	}()

	if err := l.startControlPlanes(ctx, opts, assets, progress); err != nil {
		return nil, err
	}
	l.hubClient, err = client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	// The hub's own agent records what it applied there, as any agent does;
	// the CRDs install while the hub starts.
	localCRDs := make(chan error, 1)
	if opts.LocalCluster {
		go func() { localCRDs <- installManagedCRDs(l.Hub.Config) }()
	} else {
		localCRDs <- nil
	}
	if err := registerClusters(ctx, l.hubClient, l.clusterNames()); err != nil {
		return nil, err
	}
	if err := l.startHub(runCtx, opts, progress); err != nil {
		return nil, err
	}
	if err := l.startAgents(ctx, runCtx, opts, localCRDs, progress); err != nil {
		return nil, err
	}
	if opts.Example {
		if err := l.serveExample(ctx, opts, progress); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// setDefaults fills in the addresses and, for --example, the local cluster
// and the example's Helm repository.
func (opts *Options) setDefaults() {
	if opts.GitAddr == "" {
		opts.GitAddr = DefaultGitAddr
	}
	if opts.HelmAddr == "" {
		opts.HelmAddr = "127.0.0.1:0"
		if opts.GitAddr == DefaultGitAddr {
			opts.HelmAddr = DefaultHelmAddr
		}
	}
	if !opts.Example {
		return
	}
	opts.LocalCluster = true
	if opts.HelmRepoDir == "" {
		if d := filepath.Join(opts.ExampleDir, "helm-repo-src"); isDir(d) {
			opts.HelmRepoDir = d
		}
	}
}

// prepareDir creates dir and clears an earlier lab's state from it: every
// start is a new hub, so what an earlier lab cached or was issued is of no
// use to this one.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "*-hub-identity.kubeconfig"))
	for _, p := range append(stale, filepath.Join(dir, "hub-cache")) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clear the previous lab's state: %w", err)
		}
	}
	return nil
}

// startControlPlanes starts the hub's and the clusters' control planes (and
// what runs workloads on the clusters) and writes their kubeconfigs.
func (l *Lab) startControlPlanes(ctx context.Context, opts Options, assets string, progress io.Writer) error {
	started := time.Now()
	fmt.Fprintf(progress, "starting %d control planes (etcd + kube-apiserver each)... ", opts.Clusters+1)
	var err error
	if l.Hub, l.Clusters, err = StartControlPlanes(ctx, assets, opts.Clusters); err != nil {
		fmt.Fprintln(progress, "failed")
		return err
	}
	fmt.Fprintf(progress, "up in %s\n", time.Since(started).Round(100*time.Millisecond))
	if opts.Workloads {
		if err := l.startWorkloads(ctx, opts, progress); err != nil {
			return err
		}
	}
	for _, cp := range append([]*ControlPlane{l.Hub}, l.Clusters...) {
		path := filepath.Join(opts.Dir, cp.Name+".kubeconfig")
		if err := cp.WriteKubeconfig(path); err != nil {
			return fmt.Errorf("write kubeconfig of %s: %w", cp.Name, err)
		}
		l.Kubeconfigs[cp.Name] = path
	}
	return nil
}

// startHub runs the hub's controllers and webhook receiver.
func (l *Lab) startHub(runCtx context.Context, opts Options, progress io.Writer) error {
	webhookAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	l.WebhookURL = "http://" + webhookAddr + "/webhook"
	l.run("hub", func() error {
		return hub.Run(runCtx, l.Hub.Config, hub.Options{
			CacheDir: filepath.Join(opts.Dir, "hub-cache"), Logger: opts.Logger.WithName("hub"),
			MetricsAddr: "0", HealthAddr: "0", WebhookAddr: webhookAddr,
			// The lab's Git server is on 127.0.0.1.
			AllowNetworks: egress.Loopback(),
			// The lab's hub has no kube-controller-manager: the hub signs
			// the clusters' certificates itself.
			Registration: reghub.Options{
				CACertPEM: l.Hub.ClientCA.CertPEM, CAKeyPEM: l.Hub.ClientCA.KeyPEM,
				AutoApproveUsers: []string{BootstrapUser},
			},
		})
	})
	fmt.Fprintf(progress, "hub controllers running; push webhooks go to %s\n", l.WebhookURL)
	return nil
}

// startAgents runs an agent per cluster (and the hub's own once its CRDs
// are in, from localCRDs) and, with the lab's own agent, waits until every
// cluster joined.
func (l *Lab) startAgents(ctx, runCtx context.Context, opts Options, localCRDs <-chan error, progress io.Writer) error {
	agent := opts.Agent
	if agent == nil {
		var err error
		if agent, err = l.ownAgent(ctx, opts); err != nil {
			return err
		}
		if err := l.installFleetKeys(ctx, progress); err != nil {
			return err
		}
	}
	for _, cp := range l.Clusters {
		l.run("agent "+cp.Name, func() error {
			return agent(runCtx, l.Hub.Config, cp.Config, cp.Name)
		})
	}
	if err := <-localCRDs; err != nil {
		return err
	}
	if opts.LocalCluster {
		l.run("agent "+LocalClusterName, func() error {
			return agent(runCtx, l.Hub.Config, l.Hub.Config, LocalClusterName)
		})
	}
	if opts.Agent != nil {
		return nil
	}
	return l.waitJoined(ctx, 60*time.Second, progress)
}

// installFleetKeys gives every managed cluster the demo fleet key before
// its klusterlet starts, so the example's encrypted Secret opens there. The
// hub (local-cluster) gets none: a hub holds no private key.
func (l *Lab) installFleetKeys(ctx context.Context, progress io.Writer) error {
	var g errgroup.Group
	for _, cp := range l.Clusters {
		g.Go(func() error {
			if err := InstallDemoFleetKey(ctx, cp.Config); err != nil {
				return fmt.Errorf("%s: %w", cp.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(progress, "demo fleet key (%s..., lab only) installed on %s\n", DemoFleetRecipient[:12], plural(len(l.Clusters), "managed cluster"))
	return nil
}

// ownAgent is the lab's klusterlet, once the hub grants the identities it
// uses: agents started before would fail their first attempts and back off
// (joining with the bootstrap identity, then renewing the Lease and watching
// works with their own). The hub sets both up for accepted clusters on its
// own.
func (l *Lab) ownAgent(ctx context.Context, opts Options) (AgentFunc, error) {
	bootstrap, err := l.Hub.UserConfig(BootstrapUser, registration.DefaultBootstrapGroup)
	if err != nil {
		return nil, fmt.Errorf("bootstrap identity: %w", err)
	}
	admin, err := kubernetes.NewForConfig(l.Hub.Config)
	if err != nil {
		return nil, err
	}
	if err := waitAuthorized(ctx, "the bootstrap identity "+BootstrapUser, subjectAccess(admin, BootstrapUser, registration.DefaultBootstrapGroup), bootstrapAccess, 30*time.Second); err != nil {
		return nil, err
	}
	for _, name := range l.clusterNames() {
		user := registration.AgentUser(name, "klusterlet")
		if err := waitAuthorized(ctx, "the agent of "+name, subjectAccess(admin, user, registration.ClusterGroup(name), registration.GroupManagedClusters), agentAccess(name), 30*time.Second); err != nil {
			return nil, err
		}
	}
	return klusterletAgent(bootstrap, opts.Dir, opts.Logger), nil
}

// startWorkloads starts the processes that run pods on every managed
// cluster, in parallel.
func (l *Lab) startWorkloads(ctx context.Context, opts Options, progress io.Writer) error {
	nodes := opts.Nodes
	if nodes <= 0 {
		nodes = DefaultNodes
	}
	started := time.Now()
	hub := ""
	if l.LocalCluster {
		hub = "; " + LocalClusterName + " runs none"
	}
	fmt.Fprintf(progress, "starting workloads on %s (kube-controller-manager, kube-scheduler, kwok with %s each%s)... ",
		plural(len(l.Clusters), "managed cluster"), plural(nodes, "fake node"), hub)
	var g errgroup.Group
	for _, cp := range l.Clusters {
		g.Go(func() error {
			return cp.StartWorkloads(ctx, WorkloadOptions{Nodes: nodes, Dir: filepath.Join(opts.Dir, "workloads", cp.Name)})
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(progress, "failed")
		return err
	}
	fmt.Fprintf(progress, "pods run, up in %s\n", time.Since(started).Round(100*time.Millisecond))
	return nil
}

// installManagedCRDs installs the CRDs of a managed cluster (AppliedManifestWork,
// ClusterClaim) and waits until they are served.
func installManagedCRDs(cfg *rest.Config) error {
	list, err := crds.Managed()
	if err != nil {
		return err
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: list}); err != nil {
		return fmt.Errorf("install the managed-cluster CRDs on the hub for %s: %w", LocalClusterName, err)
	}
	return nil
}

// serveExample starts the Git server (and the Helm repository) with the
// example and applies the bootstrap objects to the hub.
func (l *Lab) serveExample(ctx context.Context, opts Options, progress io.Writer) error {
	rewrite := map[string]string{}
	if opts.HelmRepoDir != "" {
		dir := filepath.Join(opts.Dir, "helm-repo")
		_ = os.RemoveAll(dir)
		h, err := StartHelmRepo(opts.HelmRepoDir, dir, opts.HelmAddr)
		if err != nil {
			return err
		}
		l.Helm = h
		rewrite["http://"+DefaultHelmAddr+"/"] = h.URL + "/"
		names := make([]string, 0, len(h.Charts))
		for name, versions := range h.Charts {
			names = append(names, name+" "+strings.Join(versions, ", "))
		}
		sort.Strings(names)
		fmt.Fprintf(progress, "Helm repository served at %s/ (%s)\n", h.URL, strings.Join(names, "; "))
	}
	notifier := &pushNotifier{
		webhookURL: l.WebhookURL,
		repoURL:    func(repo string) string { return l.Git.URL + "/" + repo },
		client:     &http.Client{Timeout: 10 * time.Second},
		log:        opts.Logger.WithName("git"),
	}
	var err error
	l.Git, err = StartGitServer(filepath.Join(opts.Dir, "git"), opts.GitAddr, notifier.notify)
	if err != nil {
		return err
	}
	// The repository outlives the lab: clones made for the tour can go on
	// pushing, and what was pushed is what the next lab deploys.
	repo, err := l.Git.OpenOrCreateRepo(ctx, "fleet.git", opts.ExampleDir)
	if err != nil {
		return fmt.Errorf("serve the example fleet repo: %w", err)
	}
	l.FleetURL, l.FleetRepo = repo.URL, repo
	fmt.Fprint(progress, fleetRepoLine(repo, filepath.Join(opts.Dir, "git", "fleet.git")))
	// channels/ names the default addresses; a lab started elsewhere points
	// the Channels it applies at its own servers instead.
	rewrite["http://"+DefaultGitAddr+"/"] = l.Git.URL + "/"
	for _, dir := range opts.ApplyDirs {
		n, err := ApplyDir(ctx, l.hubClient, dir, rewrite)
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "applied %s to the hub (%s)\n", filepath.Base(dir)+"/", plural(n, "object"))
	}
	return nil
}

// fleetRepoLine says where the fleet repo is served and whether it is the
// one of the last lab, with how to start over, or why it was recreated, with
// how clones made earlier get back in step.
func fleetRepoLine(r Repo, path string) string {
	short := r.Head
	if len(short) > 7 {
		short = short[:7]
	}
	switch {
	case r.Kept:
		return fmt.Sprintf("fleet repo served at %s (kept from the last lab, main@%s; to start over from the example: rm -rf %s)\n", r.URL, short, path)
	case r.Replaced != nil:
		return fmt.Sprintf("fleet repo served at %s, created anew from the example (main@%s): %v\n"+
			"  a clone made before holds what was pushed: git -C <clone> push --force origin HEAD:main puts it back\n", r.URL, short, r.Replaced)
	default:
		return fmt.Sprintf("fleet repo served at %s (main@%s, kept in %s across restarts)\n", r.URL, short, path)
	}
}

// clusterNames lists the managed clusters, local-cluster first when the hub
// is one.
func (l *Lab) clusterNames() []string {
	var names []string
	if l.LocalCluster {
		names = append(names, LocalClusterName)
	}
	for _, cp := range l.Clusters {
		names = append(names, cp.Name)
	}
	return names
}

// StartControlPlanes starts a hub and n managed control planes (cluster1 …
// clusterN) in parallel. On error it stops those that started and returns
// none.
func StartControlPlanes(ctx context.Context, assets string, n int) (hub *ControlPlane, clusters []*ControlPlane, err error) {
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
	if err := g.Wait(); err != nil {
		for _, cp := range planes {
			if cp != nil {
				_ = cp.Stop()
			}
		}
		return nil, nil, err
	}
	return planes[0], planes[1:], nil
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

// Stop shuts everything down: controllers and agents first, then the
// servers and the control planes. Calling it again returns the first result.
func (l *Lab) Stop() error {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		errs := []error{l.Err()}
		if l.Git != nil {
			errs = append(errs, l.Git.Close())
		}
		if l.Helm != nil {
			errs = append(errs, l.Helm.Close())
		}
		var g errgroup.Group
		for _, cp := range append([]*ControlPlane{l.Hub}, l.Clusters...) {
			if cp != nil {
				g.Go(cp.Stop)
			}
		}
		errs = append(errs, g.Wait())
		l.stopErr = errors.Join(errs...)
	})
	return l.stopErr
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
			AgeKeySecret:      KeySecret, // where InstallDemoFleetKey put the demo fleet key
			Logger:            log.WithName("klusterlet").WithValues("cluster", name),
		})
	}
}

// registerClusters creates an accepted ManagedCluster and its namespace on the
// hub for each cluster: managed clusters get ClusterLabels, local-cluster the
// label local-cluster=true and no cluster set, so that only Placements that
// ask for it choose the hub.
func registerClusters(ctx context.Context, c client.Client, names []string) error {
	for _, name := range names {
		labels := map[string]string{"local-cluster": "true"}
		if name != LocalClusterName {
			var i int
			if _, err := fmt.Sscanf(name, "cluster%d", &i); err != nil {
				return fmt.Errorf("register %s: not a lab cluster name", name)
			}
			labels = ClusterLabels(i)
		}
		mc := &clusterv1.ManagedCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true},
		}
		for _, o := range []client.Object{registration.ClusterNamespace(name), mc} {
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("register %s on the hub: %w", name, err)
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

// plural says "1 object", "3 objects".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
