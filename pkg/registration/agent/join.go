package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterclientset "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
)

// Options configure joining the hub.
type Options struct {
	// ClusterName is the ManagedCluster's name.
	ClusterName string
	// AgentName completes the agent's user name (default "klusterlet").
	AgentName string
	// Bootstrap is the identity used to join; nil when only stored
	// credentials may be used.
	Bootstrap *rest.Config
	// Managed is the managed cluster; its address and CA go into the
	// ManagedCluster's client configs.
	Managed *rest.Config
	// Store keeps the issued hub kubeconfig.
	Store Store
	// CertValidity is the certificate lifetime asked for (default 24h; the
	// hub's signer has the last word).
	CertValidity time.Duration
	// RenewFraction of a certificate's lifetime after which it is renewed
	// (default 0.8).
	RenewFraction float64
	Logger        logr.Logger
}

func (o *Options) defaults() error {
	if o.ClusterName == "" {
		return errors.New("registration: the cluster name is required (--cluster-name)")
	}
	if o.Store == nil {
		return errors.New("registration: a place to keep the hub kubeconfig is required (--hub-kubeconfig or --hub-kubeconfig-secret)")
	}
	if o.AgentName == "" {
		o.AgentName = "klusterlet"
	}
	if o.CertValidity <= 0 {
		o.CertValidity = 24 * time.Hour
	}
	if o.RenewFraction <= 0 || o.RenewFraction >= 1 {
		o.RenewFraction = 0.8
	}
	return nil
}

// Registration is the agent's hub identity, kept valid by Run.
type Registration struct {
	opts   Options
	log    logr.Logger
	config *rest.Config
	cert   *rotatingCert

	mu        sync.Mutex
	creds     *Credentials
	notBefore time.Time
	notAfter  time.Time
}

// Join returns the agent's hub identity: the stored one while it is valid,
// else a new one obtained through the bootstrap identity (creating the
// ManagedCluster and waiting for the hub to accept it).
func Join(ctx context.Context, opts Options) (*Registration, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := &Registration{opts: opts, log: opts.Logger.WithValues("cluster", opts.ClusterName)}
	creds, why := r.stored(ctx)
	if creds == nil {
		if opts.Bootstrap == nil {
			return nil, fmt.Errorf("no usable hub kubeconfig in %s (%s) and no bootstrap kubeconfig to join with: pass --bootstrap-kubeconfig", opts.Store, why)
		}
		r.log.Info("joining the hub", "reason", why)
		var err error
		if creds, err = r.bootstrap(ctx); err != nil {
			return nil, err
		}
	}
	cfg, rc, err := rotatingConfig(creds, "ocm-gitops-klusterlet/"+opts.ClusterName)
	if err != nil {
		return nil, err
	}
	r.config, r.cert = cfg, rc
	if err := r.setCreds(creds); err != nil {
		return nil, err
	}
	return r, nil
}

// Close drops the connections of clients built from Config.
func (r *Registration) Close() {
	if r.cert != nil {
		r.cert.dialer.CloseAll()
	}
	if t, ok := r.config.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// Config is a client configuration for the hub with the agent's identity;
// clients built from it follow certificate rotation.
func (r *Registration) Config() *rest.Config { return rest.CopyConfig(r.config) }

// Credentials returns the current hub credentials.
func (r *Registration) Credentials() Credentials {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.creds
}

// NotAfter is when the current certificate expires.
func (r *Registration) NotAfter() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notAfter
}

func (r *Registration) setCreds(c *Credentials) error {
	nb, na, _, err := certValidity(c.CertData)
	if err != nil {
		return fmt.Errorf("issued certificate: %w", err)
	}
	if err := r.cert.set(c.CertData, c.KeyData); err != nil {
		return err
	}
	r.mu.Lock()
	r.creds, r.notBefore, r.notAfter = c, nb, na
	r.mu.Unlock()
	return nil
}

// stored returns the stored credentials when they are this cluster's, for
// the bootstrap hub, and valid for a while yet; else why not.
func (r *Registration) stored(ctx context.Context) (*Credentials, string) {
	data, err := r.opts.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Sprintf("cannot read it: %v", err)
	}
	if len(data) == 0 {
		return nil, "no hub kubeconfig stored yet"
	}
	c, err := ParseKubeconfig(data)
	if err != nil {
		return nil, err.Error()
	}
	notBefore, notAfter, cert, err := certValidity(c.CertData)
	if err != nil {
		return nil, "stored kubeconfig has no client certificate"
	}
	if cl, _, ok := registration.ParseAgentUser(cert.Subject.CommonName); !ok || cl != r.opts.ClusterName {
		return nil, fmt.Sprintf("stored certificate is for %q, not cluster %s", cert.Subject.CommonName, r.opts.ClusterName)
	}
	// Too close to expiry to renew with it: join again instead.
	if margin := min(time.Minute, notAfter.Sub(notBefore)/10); time.Until(notAfter) < margin {
		return nil, "stored certificate expired at " + notAfter.UTC().Format(time.RFC3339)
	}
	if b := r.opts.Bootstrap; b != nil && b.Host != c.Server {
		return nil, fmt.Sprintf("stored kubeconfig is for hub %s, the bootstrap kubeconfig for %s", c.Server, b.Host)
	}
	return c, ""
}

// bootstrap creates the ManagedCluster if needed and obtains a certificate
// with the bootstrap identity, retrying until the hub accepts or ctx ends.
func (r *Registration) bootstrap(ctx context.Context) (*Credentials, error) {
	b := rest.CopyConfig(r.opts.Bootstrap)
	kube, err := kubernetes.NewForConfig(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap client: %w", err)
	}
	clusters, err := clusterclientset.NewForConfig(b)
	if err != nil {
		return nil, fmt.Errorf("bootstrap client: %w", err)
	}
	ca, err := caData(b)
	if err != nil {
		return nil, err
	}
	backoff := time.Second
	for {
		creds, err := r.tryBootstrap(ctx, kube, clusters)
		if err == nil {
			creds.Server, creds.CAData = b.Host, ca
			kc, err := creds.Kubeconfig(r.opts.ClusterName)
			if err != nil {
				return nil, err
			}
			if err := r.opts.Store.Save(ctx, kc); err != nil {
				return nil, fmt.Errorf("store the hub kubeconfig in %s: %w", r.opts.Store, err)
			}
			r.log.Info("joined the hub; hub kubeconfig stored", "store", r.opts.Store.String())
			return creds, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("join the hub as cluster %s: %w", r.opts.ClusterName, ctx.Err())
		}
		r.log.Error(err, "joining the hub failed; retrying", "in", backoff.String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join the hub as cluster %s: %w", r.opts.ClusterName, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

func (r *Registration) tryBootstrap(ctx context.Context, kube kubernetes.Interface, clusters clusterclientset.Interface) (*Credentials, error) {
	if err := r.ensureManagedCluster(ctx, clusters); err != nil {
		return nil, err
	}
	cert, key, err := requestCertificate(ctx, kube, r.opts.ClusterName, r.opts.AgentName, r.opts.CertValidity, func(csr string) {
		r.log.Info("waiting for the hub to accept the cluster and sign its certificate", "certificateSigningRequest", csr)
	})
	if err != nil {
		return nil, err
	}
	return &Credentials{CertData: cert, KeyData: key}, nil
}

// ensureManagedCluster creates the cluster's ManagedCluster, not yet accepted.
func (r *Registration) ensureManagedCluster(ctx context.Context, clusters clusterclientset.Interface) error {
	mcs := clusters.ClusterV1().ManagedClusters()
	_, err := mcs.Get(ctx, r.opts.ClusterName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get ManagedCluster %s: %w", r.opts.ClusterName, err)
	}
	mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: r.opts.ClusterName}}
	if m := r.opts.Managed; m != nil {
		ca, _ := caData(m)
		mc.Spec.ManagedClusterClientConfigs = []clusterv1.ClientConfig{{URL: m.Host, CABundle: ca}}
	}
	if _, err := mcs.Create(ctx, mc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ManagedCluster %s: %w", r.opts.ClusterName, err)
	}
	r.log.Info("created ManagedCluster; the hub must accept it (spec.hubAcceptsClient) unless it auto-approves this bootstrap identity")
	return nil
}

func caData(cfg *rest.Config) ([]byte, error) {
	if len(cfg.CAData) > 0 {
		return cfg.CAData, nil
	}
	if cfg.CAFile != "" {
		data, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file %s: %w", cfg.CAFile, err)
		}
		return data, nil
	}
	return nil, nil
}

// Run renews the certificate before it expires, until ctx ends.
func (r *Registration) Run(ctx context.Context) error {
	for {
		r.mu.Lock()
		nb, na := r.notBefore, r.notAfter
		r.mu.Unlock()
		life := na.Sub(nb)
		jitter := time.Duration(rand.Float64() * 0.05 * float64(life))
		renewAt := nb.Add(time.Duration(r.opts.RenewFraction*float64(life)) - jitter)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(renewAt)):
		}
		if err := r.renew(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retry := max(min(time.Until(na)/10, 30*time.Second), time.Second)
			r.log.Error(err, "certificate renewal failed; retrying", "in", retry.String(), "expires", na.UTC().Format(time.RFC3339))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retry):
			}
		}
	}
}

// renew obtains a new certificate with the current identity (or the
// bootstrap one once it has expired) and switches to it.
func (r *Registration) renew(ctx context.Context) error {
	var kube kubernetes.Interface
	var err error
	if time.Until(r.NotAfter()) > 0 {
		kube, err = kubernetes.NewForConfig(r.Config())
	} else if r.opts.Bootstrap != nil {
		kube, err = kubernetes.NewForConfig(rest.CopyConfig(r.opts.Bootstrap))
	} else {
		return errors.New("the certificate expired and there is no bootstrap kubeconfig to join again")
	}
	if err != nil {
		return err
	}
	cert, key, err := requestCertificate(ctx, kube, r.opts.ClusterName, r.opts.AgentName, r.opts.CertValidity, nil)
	if err != nil {
		return err
	}
	cur := r.Credentials()
	next := &Credentials{Server: cur.Server, CAData: cur.CAData, CertData: cert, KeyData: key}
	kc, err := next.Kubeconfig(r.opts.ClusterName)
	if err != nil {
		return err
	}
	if err := r.opts.Store.Save(ctx, kc); err != nil {
		return fmt.Errorf("store the renewed hub kubeconfig in %s: %w", r.opts.Store, err)
	}
	if err := r.setCreds(next); err != nil {
		return err
	}
	r.log.Info("client certificate renewed", "expires", r.NotAfter().UTC().Format(time.RFC3339))
	return nil
}

// StaticConfig is a plain client configuration for credentials, for tools
// that do not need rotation.
func StaticConfig(c *Credentials) *rest.Config { return staticConfig(c) }
