package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// reconcileCommand holds the flags of 'ocm-gitops reconcile'.
type reconcileCommand struct {
	fleetCommand
	timeout  time.Duration
	progress time.Duration
}

func newReconcileCommand() *cobra.Command {
	r := &reconcileCommand{}
	sub := &cobra.Command{
		Use:     "subscription NAME",
		Aliases: []string{"sub", "subs", "appsub"},
		Short:   "Fetch and render a Subscription now and wait until the hub is done",
		Example: "  ocm-gitops reconcile subscription hello -n fleet\n  ocm-gitops reconcile sub fleet/hello --timeout 5m",
		Args:    exactArgs(1, "NAME"),
		RunE:    func(cmd *cobra.Command, args []string) error { return r.subscription(cmd, args[0]) },
	}
	ch := &cobra.Command{
		Use:     "channel NAME",
		Aliases: []string{"ch"},
		Short:   "Fetch a Channel now for every Subscription using it and wait until the hub is done",
		Example: "  ocm-gitops reconcile channel repo -n fleet",
		Args:    exactArgs(1, "NAME"),
		RunE:    func(cmd *cobra.Command, args []string) error { return r.channel(cmd, args[0]) },
	}
	for _, c := range []*cobra.Command{sub, ch} {
		fs := c.Flags()
		r.register(fs)
		fs.DurationVar(&r.timeout, "timeout", 3*time.Minute, "how long to wait for the hub")
		fs.DurationVar(&r.progress, "progress-interval", 5*time.Second, "how often to say what is being waited for")
	}
	cmd := newParentCommand("reconcile", "Ask the hub to fetch and render now, and wait for the outcome", sub, ch)
	cmd.Long = `Sets the reconcile-requested-at annotation (as the push webhook does), so the hub fetches
the source even if its poll interval has not passed, renders and writes the ManifestWorks;
then waits until the hub's status says it handled the request (status.lastHandledReconcileAt)
and prints the outcome. Exits 1 when the fetch or render failed, or on --timeout.`
	return cmd
}

// exactArgs wants n arguments, naming them in the error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("want %s, got %d arguments", names, len(args))
		}
		return nil
	}
}

func (r *reconcileCommand) subscription(cmd *cobra.Command, arg string) error {
	key := r.key(cmd, arg)
	c, err := r.watchClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	sub, err := getSubscription(ctx, c, key)
	if err != nil {
		return err
	}
	at, err := requestReconcile(ctx, c, sub)
	if err != nil {
		return err
	}
	done, err := r.wait(cmd, c, "Subscription "+key.String()+" to fetch and render", at, func(s *appsv1.Subscription) bool { return s.Namespace == key.Namespace && s.Name == key.Name })
	if err != nil {
		return err
	}
	return reportOutcome(cmd.OutOrStdout(), done)
}

func (r *reconcileCommand) channel(cmd *cobra.Command, arg string) error {
	key := r.key(cmd, arg)
	c, err := r.watchClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	ch, err := getChannel(ctx, c, key)
	if err != nil {
		return err
	}
	at, err := requestReconcile(ctx, c, ch)
	if err != nil {
		return err
	}
	uses := func(s *appsv1.Subscription) bool {
		k, err := s.ChannelKey()
		return err == nil && k == key
	}
	var subs appsv1.SubscriptionList
	if err := c.List(ctx, &subs); err != nil {
		return fmt.Errorf("list Subscriptions: %w", err)
	}
	n := 0
	for i := range subs.Items {
		if uses(&subs.Items[i]) {
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "Channel %s: no Subscription uses it, so nothing fetches it; requested at %s\n", key, at.Format(time.RFC3339))
		return nil
	}
	done, err := r.wait(cmd, c, fmt.Sprintf("%d Subscriptions of Channel %s to fetch and render", n, key), at, uses)
	if err != nil {
		return err
	}
	return reportOutcome(cmd.OutOrStdout(), done)
}

func (r *reconcileCommand) watchClient(cmd *cobra.Command) (client.WithWatch, error) {
	cfg, err := r.hub.config(cmd.Flags())
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("hub client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// requestReconcile stamps obj with the time of the request, as the push
// webhook does, with a merge patch (no read-modify-write race).
func requestReconcile(ctx context.Context, c client.Client, obj client.Object) (time.Time, error) {
	at := time.Now().UTC()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, appsv1.AnnotationReconcileRequestedAt, at.Format(time.RFC3339Nano))
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return at, fmt.Errorf("annotate %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return at, nil
}

// handled says whether a Subscription's status answers a request made at at.
func handled(s *appsv1.Subscription, at time.Time) bool {
	t, err := time.Parse(time.RFC3339Nano, s.Status.LastHandledReconcileAt)
	return err == nil && !t.Before(at.Truncate(time.Microsecond)) && s.Status.ObservedGeneration >= s.Generation
}

// wait watches the Subscriptions that match until each has handled the
// request, saying every --progress-interval what it waits for.
func (r *reconcileCommand) wait(cmd *cobra.Command, c client.WithWatch, what string, at time.Time, match func(*appsv1.Subscription) bool) ([]*appsv1.Subscription, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), r.timeout)
	defer cancel()
	stderr, start := cmd.ErrOrStderr(), time.Now()
	fmt.Fprintf(stderr, "◎ waiting for %s\n", what)
	pending := map[types.NamespacedName]bool{}
	done := map[types.NamespacedName]*appsv1.Subscription{}
	var list appsv1.SubscriptionList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list Subscriptions: %w", err)
	}
	note := func(s *appsv1.Subscription) {
		if !match(s) {
			return
		}
		k := client.ObjectKeyFromObject(s)
		if handled(s, at) {
			delete(pending, k)
			done[k] = s.DeepCopy()
		} else if done[k] == nil {
			pending[k] = true
		}
	}
	for i := range list.Items {
		note(&list.Items[i])
	}
	w, err := c.Watch(ctx, &appsv1.SubscriptionList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		return nil, fmt.Errorf("watch Subscriptions: %w", err)
	}
	defer w.Stop()
	tick := time.NewTicker(r.progress)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: the hub did not handle the request within %s (is 'ocm-gitops hub' running? 'ocm-gitops get subscriptions' shows the state; --timeout waits longer)", what, r.timeout)
		case <-tick.C:
			fmt.Fprintf(stderr, "◎ waiting for %s (%s, %d left)\n", what, time.Since(start).Round(time.Second), len(pending))
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errors.New("the hub closed the watch of Subscriptions; run the command again")
			}
			if s, isSub := ev.Object.(*appsv1.Subscription); isSub && ev.Type != watch.Deleted {
				note(s)
			}
		}
	}
	fmt.Fprintf(stderr, "✔ handled in %s\n", time.Since(start).Round(100*time.Millisecond))
	out := make([]*appsv1.Subscription, 0, len(done))
	for _, s := range done {
		out = append(out, s)
	}
	return out, nil
}

// reportOutcome prints what each Subscription did; an error when a fetch or
// render failed.
func reportOutcome(w io.Writer, subs []*appsv1.Subscription) error {
	var failed []string
	for _, s := range subs {
		rev := s.Status.LastAttemptedRevision
		if rev == "" {
			rev = s.Status.LastAppliedRevision
		}
		fmt.Fprintf(w, "Subscription %s/%s: revision %s; clusters: %s\n", s.Namespace, s.Name, dash(rev), fleetstatus.CountsText(fleetstatus.Counts(s.Status.Summary)))
		for _, typ := range []string{appsv1.ConditionSourceReady, appsv1.ConditionRendered} {
			if c := meta.FindStatusCondition(s.Status.Conditions, typ); c != nil && c.Status == metav1.ConditionFalse {
				failed = append(failed, fmt.Sprintf("Subscription %s/%s: %s (%s): %s", s.Namespace, s.Name, typ, c.Reason, c.Message))
			}
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady); c != nil {
			fmt.Fprintf(w, "  Ready=%s (%s) %s\n", c.Status, c.Reason, oneLine(c.Message))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "\n"))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return source.ShortRevision(s)
}
