package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// driftConfigMap reports hello-config drifted, as the agent does when its
// live copy differs from what it applied.
func driftConfigMap(w *workv1.ManifestWork) {
	now := metav1.Now()
	drift := metav1.Condition{Type: appsv1.WorkConditionDrifted, Status: metav1.ConditionTrue, Reason: "DriftDetected",
		Message: "fields .data.key differ", ObservedGeneration: w.Generation, LastTransitionTime: now}
	w.Status.Conditions = append(w.Status.Conditions, drift)
	for i, m := range w.Status.ResourceStatus.Manifests {
		if m.ResourceMeta.Kind == "ConfigMap" {
			w.Status.ResourceStatus.Manifests[i].Conditions = append(m.Conditions, drift)
		}
	}
}

// TestGetCommands lists a real hub's objects while one cluster has drifted:
// each kind in each format, the drift shown as such.
func TestGetCommands(t *testing.T) {
	e := newFleetEnv(t)
	e.reportWork(t, e.Works(t, "hello")["west"], driftConfigMap)
	poll.Eventually(t, 3*time.Minute, "hello drifted on west", func() error {
		if n := e.Subscription(t, "hello").Status.Summary.Drifted; n != 1 {
			return fmt.Errorf("%d drifted", n)
		}
		return nil
	})
	head := e.fleet.Head(t)

	// HEALTHY is the hub's summary.healthy, as status, the lab table and
	// kubectl show it: west drifted, and its workloads are healthy.
	if h := e.Subscription(t, "hello").Status.Summary.Healthy; h != 2 {
		t.Fatalf("summary.healthy = %d, want 2 (west drifted, healthy)", h)
	}
	out := e.run(t, 0, "get", "subscriptions")
	for _, want := range []string{"NAMESPACE", "fleet", "hello", head[:7], " 2/2 ", "1 drifted, 1 healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("get subscriptions lacks %q:\n%s", want, out)
		}
	}
	var subs []subscriptionRow
	if err := json.Unmarshal([]byte(e.run(t, 0, "get", "subs", "-n", "fleet", "-o", "json")), &subs); err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].Clusters[fleetstatus.ClassDrifted] != 1 || !strings.Contains(subs[0].Revision, head) || subs[0].Channel != "fleet/repo" {
		t.Errorf("get subs -o json = %+v, want fleet/hello at %s with 1 drifted cluster", subs, head)
	}
	if out := e.run(t, 0, "get", "subscriptions", "-n", "elsewhere"); strings.Contains(out, "hello") {
		t.Errorf("-n elsewhere lists fleet's Subscription:\n%s", out)
	}

	out = e.run(t, 0, "get", "channels", "-o", "wide")
	for _, want := range []string{"repo", "git", head[:7], e.fleet.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("get channels -o wide lacks %q:\n%s", want, out)
		}
	}

	var clusters []clusterRow
	if err := json.Unmarshal([]byte(e.run(t, 0, "get", "clusters", "-l", "env=test", "-o", "json")), &clusters); err != nil {
		t.Fatal(err)
	}
	byName := map[string]clusterRow{}
	for _, c := range clusters {
		byName[c.Name] = c
	}
	if len(clusters) != 2 || byName["west"].Subscriptions[fleetstatus.ClassDrifted] != 1 || byName["east"].Subscriptions[fleetstatus.ClassHealthy] != 1 {
		t.Errorf("get clusters -o json = %+v, want west drifted and east healthy", clusters)
	}
	if out := e.run(t, 0, "get", "clusters", "-l", "env=prod"); strings.Contains(out, "east") {
		t.Errorf("-l env=prod lists a test cluster:\n%s", out)
	}

	out = e.run(t, 0, "get", "works", "-o", "wide")
	var westLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "west ") {
			westLine = l
		}
	}
	if !strings.Contains(westLine, "fleet/hello") || strings.Count(westLine, "True") != 3 || !strings.Contains(westLine, "fields .data.key differ") {
		t.Errorf("get works -o wide shows west as %q, want applied, available and drifted with the message:\n%s", westLine, out)
	}
	if out := e.run(t, 0, "get", "works", "-o", "yaml"); !strings.Contains(out, "drifted: \"True\"") {
		t.Errorf("get works -o yaml lacks the drift:\n%s", out)
	}

	if out := e.run(t, 2, "get", "works", "-o", "xml"); !strings.Contains(out, "want table, wide, json, yaml") {
		t.Errorf("-o xml: %s", out)
	}
	if out := e.run(t, 2, "get", "clusters", "-l", "env in (x"); !strings.Contains(out, "-l") {
		t.Errorf("bad selector: %s", out)
	}
}

// TestGetTables pins the table layouts of 'get' (no control plane).
func TestGetTables(t *testing.T) {
	g := &getCommand{format: outputTable}
	subs := []subscriptionRow{
		{Namespace: "fleet", Name: "hello", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Ready: "True", Reason: "Succeeded",
			Selected: 3, Healthy: 2, Clusters: map[fleetstatus.Class]int{fleetstatus.ClassHealthy: 2, fleetstatus.ClassFailing: 1}},
		// Drifted and healthy: HEALTHY counts it, as summary.healthy does.
		{Namespace: "guestbook", Name: "dev", Revision: "main@sha1:0123456789abcdef0123456789abcdef01234567", Ready: "False", Reason: "DriftDetected",
			Selected: 1, Healthy: 1, Clusters: map[fleetstatus.Class]int{fleetstatus.ClassDrifted: 1}},
		{Namespace: "shop", Name: "cart", Revision: "main@sha1:1111111111111111111111111111111111111111",
			Attempted: "main@sha1:2222222222222222222222222222222222222222", Ready: "False", Reason: "RenderFailed",
			Message: "apps/cart:\n  unknown field", Paused: true, Clusters: map[fleetstatus.Class]int{}},
	}
	for _, c := range []struct {
		format outputFormat
		want   string
	}{
		{outputTable, `NAMESPACE  NAME   REVISION                            READY  REASON         HEALTHY  STATES
fleet      hello  main@0123456                        True   Succeeded      2/3      1 failing, 2 healthy
guestbook  dev    main@0123456                        False  DriftDetected  1/1      1 drifted
shop       cart   main@1111111 (trying main@2222222)  False  RenderFailed   0/0      -
`},
		{outputWide, `NAMESPACE  NAME   REVISION                            READY  REASON         HEALTHY  STATES                CHANNEL  PATH  ROLLOUT  PAUSED  MESSAGE
fleet      hello  main@0123456                        True   Succeeded      2/3      1 failing, 2 healthy  -        -     -        false   -
guestbook  dev    main@0123456                        False  DriftDetected  1/1      1 drifted             -        -     -        false   -
shop       cart   main@1111111 (trying main@2222222)  False  RenderFailed   0/0      -                     -        -     -        true    apps/cart: unknown field
`},
	} {
		g.format = c.format
		var buf bytes.Buffer
		if err := g.subscriptionTable(&buf, subs); err != nil {
			t.Fatal(err)
		}
		if buf.String() != c.want {
			t.Errorf("-o %s:\n%s\nwant:\n%s", c.format, buf.String(), c.want)
		}
	}

	for _, c := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0s"}, {90 * time.Second, "90s"}, {90 * time.Minute, "90m"}, {30 * time.Hour, "30h"}, {72 * time.Hour, "3d"}} {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if got := age(now.Add(-c.d), now); got != c.want {
			t.Errorf("age(%s) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := age(time.Time{}, time.Now()); got != "-" {
		t.Errorf("age(zero) = %q, want -", got)
	}
}

// TestReconcileAndSuspend asks a real hub to reconcile after a push and
// waits for it; suspends and resumes; a broken push fails the reconcile.
func TestReconcileAndSuspend(t *testing.T) {
	e := newFleetEnv(t)
	head := e.fleet.Commit(t, "v2", map[string]string{"apps/hello/config.yaml": harness.ConfigMapYAML("hello-config", "v2")})
	out := e.run(t, 0, "reconcile", "subscription", "hello", "-n", "fleet", "--progress-interval", "100ms")
	for _, want := range []string{"◎ waiting for Subscription fleet/hello to fetch and render", "✔ handled in", "revision main@" + head[:7]} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile lacks %q:\n%s", want, out)
		}
	}
	if s := e.Subscription(t, "hello"); !strings.Contains(s.Status.LastAttemptedRevision, head) || s.Status.LastHandledReconcileAt == "" {
		t.Errorf("after reconcile the hub tried %s (handled %q), want %s", s.Status.LastAttemptedRevision, s.Status.LastHandledReconcileAt, head)
	}

	out = e.run(t, 0, "suspend", "subscription", "fleet/hello")
	if s := e.Subscription(t, "hello"); s.Labels[appsv1.LabelSubscriptionPause] != "true" || !strings.Contains(out, "suspended") {
		t.Errorf("suspend: labels %v, output %q", s.Labels, out)
	}
	// The hub reports the pause in the Subscription's status when it next
	// reconciles; get shows it from then on.
	poll.Eventually(t, time.Minute, "get subs showing the pause", func() error {
		if out := e.run(t, 0, "get", "subs", "-o", "wide"); !strings.Contains(out, "Paused") {
			return fmt.Errorf("get subs does not show the pause:\n%s", out)
		}
		return nil
	})
	e.run(t, 0, "resume", "subscription", "hello", "-n", "fleet")
	if s := e.Subscription(t, "hello"); s.Labels[appsv1.LabelSubscriptionPause] != "" {
		t.Errorf("resume left labels %v", s.Labels)
	}

	// A push that cannot render: reconcile waits for it and fails saying why.
	e.fleet.Commit(t, "broken", map[string]string{"apps/hello/kustomization.yaml": "resourcez: [config.yaml]\n"})
	out = e.run(t, 1, "reconcile", "channel", "repo", "-n", "fleet")
	if !strings.Contains(out, "Rendered (RenderFailed)") || !strings.Contains(out, "resourcez") {
		t.Errorf("reconcile of a broken revision:\n%s", out)
	}
	if out := e.run(t, 1, "reconcile", "sub", "nope", "-n", "fleet"); !strings.Contains(out, "Subscription fleet/nope not found") {
		t.Errorf("missing subscription: %s", out)
	}
}
