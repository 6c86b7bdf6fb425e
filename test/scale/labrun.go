package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
)

// runLabCommand measures push-to-applied: from `git push` of a commit to the
// lab's Git server (which sends the hub a push webhook) until every managed
// cluster's API server holds the changed object, applied by its real work
// agent.
func runLabCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		clusters, pushes int
		pause            time.Duration
		repo             string
	)
	fs.IntVar(&clusters, "clusters", 10, "managed clusters, each a real kube-apiserver + etcd with the work agent")
	fs.IntVar(&pushes, "pushes", 5, "commits to push, one after the other")
	fs.DurationVar(&pause, "pause", 2*time.Second, "wait between pushes")
	fs.StringVar(&repo, "repo", "", "checkout holding fleet-repo-example and channels (default: found from the working folder)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if repo == "" {
		var err error
		if repo, err = repoRoot(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "ocm-gitops-lab-latency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(stdout, "machine: %s\n", machine())
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{
		Clusters: clusters, Dir: filepath.Join(dir, "lab"), GitAddr: "127.0.0.1:0", Logger: logr.Discard(),
		Example: true, ExampleDir: filepath.Join(repo, "fleet-repo-example"),
		ApplyDirs: []string{filepath.Join(repo, "channels")},
	})
	if err != nil {
		return err
	}
	defer func() { _ = l.Stop() }()
	fmt.Fprintf(stdout, "lab with %d clusters up in %s\n", clusters, time.Since(start).Round(time.Millisecond))

	hubClient, err := client.New(l.Hub.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	// The example's app on every cluster of the lab.
	sub := &appsv1.Subscription{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "hello-everywhere", Annotations: map[string]string{
			appsv1.AnnotationGitPath: "apps/hello", appsv1.AnnotationGitBranch: "main",
		}},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/fleet-repo", Placement: &appsv1.Placement{
			ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "name", Operator: metav1.LabelSelectorOpExists}}},
		}},
	}
	if err := hubClient.Create(ctx, sub); err != nil {
		return fmt.Errorf("create Subscription: %w", err)
	}

	watchers := make([]*colorWatch, len(l.Clusters))
	for i, cp := range l.Clusters {
		c, err := client.NewWithWatch(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			return err
		}
		watchers[i] = watchColor(ctx, cp.Name, c)
	}
	deadline := 120 * time.Second
	for _, w := range watchers {
		if _, err := w.await(ctx, "blue", deadline); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "the example runs on all %d clusters\n", clusters)

	clone := filepath.Join(dir, "clone")
	if err := lab.Git(ctx, "", "clone", "--quiet", l.FleetURL, clone); err != nil {
		return err
	}
	file := filepath.Join(clone, "apps/hello/configmap.yaml")
	colorLine := regexp.MustCompile(`(?m)^  color: .*$`)
	var fromStart, fromReturn []time.Duration
	for p := 1; p <= pushes; p++ {
		color := fmt.Sprintf("push-%d", p)
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, colorLine.ReplaceAll(data, []byte("  color: "+color)), 0o644); err != nil {
			return err
		}
		if err := lab.Git(ctx, clone, "commit", "--quiet", "-am", "hello: "+color); err != nil {
			return err
		}
		pushStart := time.Now()
		if err := lab.Git(ctx, clone, "push", "--quiet", "origin", "main"); err != nil {
			return err
		}
		pushed := time.Now()
		var last time.Time
		for _, w := range watchers {
			at, err := w.await(ctx, color, 30*time.Second)
			if err != nil {
				return fmt.Errorf("push %d: %w", p, err)
			}
			if at.After(last) {
				last = at
			}
		}
		fromStart = append(fromStart, last.Sub(pushStart))
		fromReturn = append(fromReturn, last.Sub(pushed))
		fmt.Fprintf(stdout, "push %d: applied on all %d clusters %s after `git push` started (%s after it returned)\n",
			p, clusters, last.Sub(pushStart).Round(time.Millisecond), last.Sub(pushed).Round(time.Millisecond))
		time.Sleep(pause)
	}
	fmt.Fprintf(stdout, "push-to-applied on %d clusters over %d pushes: median %s, max %s (from push start); median %s from push return; load %s\n",
		clusters, pushes, median(fromStart), maxOf(fromStart), median(fromReturn), loadAverage())
	return l.Err()
}

// colorWatch records when a cluster's hello-config ConfigMap shows each color.
type colorWatch struct {
	name string
	mu   sync.Mutex
	seen map[string]time.Time
	cond *sync.Cond
}

func watchColor(ctx context.Context, name string, c client.WithWatch) *colorWatch {
	w := &colorWatch{name: name, seen: map[string]time.Time{}}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		for ctx.Err() == nil {
			wi, err := c.Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace("hello"))
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range wi.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok || cm.Name != "hello-config" {
					continue
				}
				now := time.Now()
				w.mu.Lock()
				if _, ok := w.seen[cm.Data["color"]]; !ok {
					w.seen[cm.Data["color"]] = now
				}
				w.cond.Broadcast()
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// await returns when the cluster first showed color.
func (w *colorWatch) await(ctx context.Context, color string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	stop := context.AfterFunc(ctx, func() { w.mu.Lock(); w.cond.Broadcast(); w.mu.Unlock() })
	defer stop()
	timer := time.AfterFunc(timeout, func() { w.mu.Lock(); w.cond.Broadcast(); w.mu.Unlock() })
	defer timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if at, ok := w.seen[color]; ok {
			return at, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s did not show color %q within %s", w.name, color, timeout)
		}
		w.cond.Wait()
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(time.Millisecond)
}

// repoRoot finds the checkout from the working folder.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "fleet-repo-example")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("fleet-repo-example not found above the working folder: pass -repo")
		}
	}
}
