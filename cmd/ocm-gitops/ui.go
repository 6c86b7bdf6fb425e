package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/ocm-gitops/ocm-gitops/pkg/ui"
)

// uiCommand holds the flags of 'ocm-gitops ui'.
type uiCommand struct {
	hub         hubFlags
	addr        string
	syncTimeout time.Duration
}

func newUICommand() *cobra.Command {
	u := &uiCommand{}
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the read-only fleet dashboard (matrix, Subscriptions, clusters, Channels)",
		Long: `Serves a read-only web dashboard of the hub: the matrix of Subscriptions × clusters
(filter by label and state, one column per cluster a page at a time or grouped by a label),
a page per Subscription and per cluster, and the Channels. It reads the hub through
watches with the credentials of the kubeconfig it is given, so it shows nothing that
kubeconfig may not read, and open pages update within a second of a change. It binds
127.0.0.1 by default and has no login of its own: give --addr another interface only
behind something that authenticates.`,
		Example: "  ocm-gitops ui --hub-kubeconfig .lab/hub.kubeconfig\n  ocm-gitops ui --addr 127.0.0.1:9090",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return u.run(cmd) },
	}
	fs := cmd.Flags()
	u.hub.register(fs)
	fs.StringVar(&u.addr, "addr", "127.0.0.1:8090", "address to serve on (port 0: any free port)")
	fs.DurationVar(&u.syncTimeout, "sync-timeout", time.Minute, "how long to wait for the first read of the hub")
	return cmd
}

func (u *uiCommand) run(cmd *cobra.Command) error {
	cfg, err := u.hub.config(cmd.Flags())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	d, err := startDashboard(ctx, cfg, u.addr, u.syncTimeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "dashboard of %s at %s (Ctrl-C stops it)\n", cfg.Host, d.url)
	return d.serve()
}

// dashboard is the dashboard's HTTP server on its listener.
type dashboard struct {
	url string
	hs  *http.Server
	ln  net.Listener
}

// startDashboard reads the hub and listens on addr; serve then serves until
// ctx ends, live event streams included.
func startDashboard(ctx context.Context, cfg *rest.Config, addr string, syncTimeout time.Duration) (*dashboard, error) {
	srv, err := ui.New(ctx, cfg, logr.Discard(), syncTimeout)
	if err != nil {
		return nil, fmt.Errorf("read the hub at %s: %w", cfg.Host, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageErrorf("--addr %s: %v", addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
	}()
	return &dashboard{url: "http://" + ln.Addr().String() + "/", hs: hs, ln: ln}, nil
}

func (d *dashboard) serve() error {
	if err := d.hs.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
