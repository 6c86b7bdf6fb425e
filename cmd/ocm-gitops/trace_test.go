package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestTraceCommand traces objects of a real hub's works back to their
// Subscription, Channel and revision, on a healthy and a drifted cluster.
func TestTraceCommand(t *testing.T) {
	e := newFleetEnv(t)
	e.reportWork(t, e.Works(t, "hello")["west"], driftConfigMap)
	poll.Eventually(t, 3*time.Minute, "hello drifted on west", func() error {
		if n := e.Subscription(t, "hello").Status.Summary.Drifted; n != 1 {
			return fmt.Errorf("%d drifted", n)
		}
		return nil
	})
	head := e.fleet.Head(t)

	out := e.run(t, 0, "trace", "deployment/hello", "-n", "default", "--cluster", "east")
	for _, want := range []string{"Deployment default/hello", "east/", "Subscription:     fleet/hello", "Path:             apps/hello",
		"On this cluster:  healthy", "Channel:          fleet/repo", e.fleet.URL, head, "Applied:          True"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace deployment on east lacks %q:\n%s", want, out)
		}
	}

	var tr trace
	if err := json.Unmarshal([]byte(e.run(t, 0, "trace", "cm", "hello-config", "--cluster", "west", "-o", "json")), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Subscription == nil || tr.Subscription.Cell.Class != fleetstatus.ClassDrifted || len(tr.Subscription.Cell.Drift) != 1 || tr.Channel == nil || !strings.Contains(tr.Channel.Revision, head) {
		t.Errorf("trace of the drifted ConfigMap = %+v, want the drifted cell with its drift and the channel at %s", tr, head)
	}
	if got := fleetstatus.ObjectCell(tr.Work.Conditions).Class; got != fleetstatus.ClassDrifted {
		t.Errorf("the ConfigMap's own conditions read as %s, want drifted", got)
	}

	if out := e.run(t, 1, "trace", "secret/nope", "--cluster", "west"); !strings.Contains(out, "no ManifestWork of cluster west holds secret nope") {
		t.Errorf("missing object: %s", out)
	}
	if out := e.run(t, 1, "trace", "cm/hello-config", "--cluster", "mars"); !strings.Contains(out, "cluster mars not found") {
		t.Errorf("missing cluster: %s", out)
	}
	if out := e.run(t, 2, "trace", "hello-config"); !strings.Contains(out, "KIND/NAME") {
		t.Errorf("no kind: %s", out)
	}
}

// TestTracePure covers what trace computes without a hub: kind names, and
// the cluster's values from the Subscription's template.
func TestTracePure(t *testing.T) {
	dep := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	policy := metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
	for _, c := range []struct {
		given string
		gvk   metav1.GroupVersionKind
		want  bool
	}{
		{"deployment", dep, true}, {"Deployments", dep, true}, {"deploy", dep, true}, {"deployment.apps", dep, true},
		{"deployment.batch", dep, false}, {"service", dep, false},
		{"networkpolicies", policy, true}, {"netpol", policy, true},
	} {
		if got := kindMatches(c.given, c.gvk); got != c.want {
			t.Errorf("kindMatches(%q, %s) = %v, want %v", c.given, c.gvk.Kind, got, c.want)
		}
	}
	if _, err := parseObjectArgs([]string{"deployment/a/b"}); err == nil {
		t.Error("deployment/a/b accepted")
	}

	sub := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "web"},
		Spec: appsv1.SubscriptionSpec{Channel: "fleet/charts", Package: "web",
			ClusterValuesTemplate: "replicas: {{ if eq .Cluster.Labels.env \"prod\" }}3{{ else }}1{{ end }}\nregion: {{ .Cluster.Claims.region }}\n"}}
	mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1", Labels: map[string]string{"env": "prod"}},
		Status: clusterv1.ManagedClusterStatus{ClusterClaims: []clusterv1.ManagedClusterClaim{{Name: "region", Value: "eu"}}}}
	ts := newTraceSubscription(sub, mc, traceWork{})
	if fmt.Sprint(ts.ClusterValues["replicas"]) != "3" || ts.ClusterValues["region"] != "eu" || ts.Chart != "web" {
		t.Errorf("cluster values = %v, want replicas 3 and region eu", ts.ClusterValues)
	}
	sub.Spec.ClusterValuesTemplate = "{{ .Nope }"
	if ts := newTraceSubscription(sub, mc, traceWork{}); ts.ValuesError == "" {
		t.Error("a broken clusterValuesTemplate is not shown")
	}
}
