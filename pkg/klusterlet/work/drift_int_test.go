package work_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apisv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

const deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"%s"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
 "spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}`

// hubLikeWork is a work as the ocm-gitops hub writes it: forced server-side
// apply of every manifest, optionally report-only.
func hubLikeWork(cluster, name string, reportOnly bool, manifests ...string) *workv1.ManifestWork {
	w := manifestWork(cluster, name, manifests...)
	w.Labels = map[string]string{apisv1.LabelSubscription: "default." + name}
	if reportOnly {
		w.Annotations = map[string]string{apisv1.AnnotationDriftPolicy: string(apisv1.DriftReportOnly)}
	}
	for _, m := range manifests {
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON([]byte(m)); err != nil {
			panic(err)
		}
		res := strings.ToLower(o.GetKind()) + "s"
		w.Spec.ManifestConfigs = append(w.Spec.ManifestConfigs, ssaConfig(o.GroupVersionKind().Group, res, o.GetNamespace(), o.GetName(), true, "work-agent-ocm-gitops"))
	}
	return w
}

// Drift is noticed through watches and corrected within seconds; the status
// says what was corrected, and an Event on the hub records it.
func TestDriftCorrected(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "driftfix")
	ns := "driftfix-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	createWork(t, hubLikeWork(cluster, "app", false, configMap(ns, "cfg", map[string]string{"key": "v"}), fmt.Sprintf(deployment, ns)))
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)

	dep := &appsv1.Deployment{}
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, dep); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Replicas = ptr.To[int32](7)
	start := time.Now()
	if err := spokeC.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 3*time.Second, "replicas restored", func() error {
		d := &appsv1.Deployment{}
		_ = spokeC.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d)
		return holds(*d.Spec.Replicas == 2, fmt.Sprint(*d.Spec.Replicas))
	})
	t.Logf("drift on .spec.replicas corrected %s after the edit", time.Since(start).Round(time.Millisecond))
	poll.Eventually(t, 5*time.Second, "correction in status", func() error {
		w := getWork(t, cluster, "app")
		mc := manifestCondition(w, 1, work.ConditionDrifted)
		wc := workCondition(w, work.ConditionDrifted)
		if mc == nil || wc == nil {
			return errors.New("no Drifted conditions")
		}
		return holds(mc.Status == metav1.ConditionFalse && mc.Reason == work.ReasonNoDrift && contains(mc.Message, ".spec.replicas") &&
			wc.Status == metav1.ConditionFalse && contains(wc.Message, "Deployment "+ns+"/web .spec.replicas"),
			mc.Message+" | "+wc.Message)
	})

	// Deleting an object is drift too: it comes back.
	cm := getCM(t, ns, "cfg")
	if err := spokeC.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 3*time.Second, "deleted object recreated", func() error {
		got := getCM(t, ns, "cfg")
		return holds(got != nil && got.UID != cm.UID && got.Data["key"] == "v", "not yet")
	})
	poll.Eventually(t, 5*time.Second, "DriftCorrected events on the hub", func() error {
		var evs corev1.EventList
		if err := hubC.List(ctx, &evs, client.InNamespace(cluster)); err != nil {
			return err
		}
		n := 0
		for _, e := range evs.Items {
			if e.Reason == "DriftCorrected" && e.InvolvedObject.Name == "app" {
				n++
			}
		}
		return holds(n >= 2, fmt.Sprint(n, " events"))
	})
}

// In report-only mode drift is reported with the fields, never corrected,
// and clears when the object matches again.
func TestDriftReportOnly(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "driftreport")
	ns := "driftreport-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	createWork(t, hubLikeWork(cluster, "app", true,
		configMap(ns, "a", map[string]string{"key": "v", "other": "o"}),
		configMap(ns, "b", map[string]string{"key": "v"}),
		configMap(ns, "c", map[string]string{"key": "v"})))
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)

	a := getCM(t, ns, "a")
	a.Data["key"], a.Data["other"] = "edited", "edited"
	if err := spokeC.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := spokeC.Delete(ctx, getCM(t, ns, "b")); err != nil {
		t.Fatal(err)
	}
	w := waitWorkCondition(t, cluster, "app", work.ConditionDrifted, metav1.ConditionTrue, 5*time.Second)
	poll.Eventually(t, 5*time.Second, "both drifts reported", func() error {
		w = getWork(t, cluster, "app")
		c := workCondition(w, work.ConditionDrifted)
		return holds(c != nil && strings.HasPrefix(c.Message, "2 of 3 manifests drifted"), fmt.Sprintf("%+v", c))
	})
	if c := manifestCondition(w, 0, work.ConditionDrifted); c == nil || c.Status != metav1.ConditionTrue ||
		c.Reason != work.ReasonDriftDetected || c.Message != ".data.key, .data.other" {
		t.Errorf("manifest a Drifted = %+v, want True with .data.key, .data.other", c)
	}
	if c := manifestCondition(w, 1, work.ConditionDrifted); c == nil || c.Message != "object was deleted" {
		t.Errorf("manifest b Drifted = %+v, want object was deleted", c)
	}
	if c := manifestCondition(w, 2, work.ConditionDrifted); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("manifest c Drifted = %+v, want False", c)
	}
	if c := workCondition(w, work.ConditionDrifted); !contains(c.Message, "ConfigMap "+ns+"/a .data.key, .data.other") || !contains(c.Message, "ConfigMap "+ns+"/b object was deleted") {
		t.Errorf("work Drifted message = %q", c.Message)
	}
	// Drift does not make the work fail; the hub reads it as drift.
	if c := workCondition(w, workv1.WorkDegraded); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Degraded = %+v, want False", c)
	}
	poll.Consistently(t, 2*time.Second, "report-only drift left alone", func() error {
		return holds(getCM(t, ns, "a").Data["key"] == "edited" && getCM(t, ns, "b") == nil, "corrected")
	})

	// Putting the values back clears the drift on a; b stays reported.
	a = getCM(t, ns, "a")
	a.Data["key"], a.Data["other"] = "v", "o"
	if err := spokeC.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 5*time.Second, "drift on a cleared", func() error {
		w := getWork(t, cluster, "app")
		c := manifestCondition(w, 0, work.ConditionDrifted)
		wc := workCondition(w, work.ConditionDrifted)
		return holds(c.Status == metav1.ConditionFalse && wc != nil && strings.HasPrefix(wc.Message, "1 of 3"), c.Message)
	})

	// A new revision is applied even in report-only mode.
	w = getWork(t, cluster, "app")
	w.Spec.Workload.Manifests[1].Raw = []byte(configMap(ns, "b", map[string]string{"key": "v2"}))
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "new revision applied", func() error {
		b := getCM(t, ns, "b")
		return holds(b != nil && b.Data["key"] == "v2", "b not applied")
	})
	waitWorkCondition(t, cluster, "app", work.ConditionDrifted, metav1.ConditionFalse, 5*time.Second)
}

// A controller that keeps undoing the agent's correction is not fought at
// watch speed: corrections back off and the drift is reported meanwhile.
func TestDriftCorrectionBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster := newCluster(t, "driftfight")
	ns := "driftfight-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	createWork(t, hubLikeWork(cluster, "app", false, configMap(ns, "contested", map[string]string{"key": "ours"})))
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)

	// A rogue writer sets the value back every time it changes.
	var writes atomic.Int32
	go func() {
		for ctx.Err() == nil {
			cm := &corev1.ConfigMap{}
			if err := spokeC.Get(ctx, client.ObjectKey{Namespace: ns, Name: "contested"}, cm); err == nil && cm.Data["key"] != "theirs" {
				cm.Data["key"] = "theirs"
				if spokeC.Update(ctx, cm) == nil {
					writes.Add(1)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	poll.Eventually(t, 10*time.Second, "backoff reported", func() error {
		w := getWork(t, cluster, "app")
		c := manifestCondition(w, 0, work.ConditionDrifted)
		return holds(c != nil && c.Status == metav1.ConditionTrue && contains(c.Message, "backoff"), fmt.Sprintf("%+v", c))
	})
	before := writes.Load()
	time.Sleep(2 * time.Second)
	cancel()
	if n := writes.Load() - before; n > 6 {
		t.Errorf("the agent kept fighting: %d corrections in 2s while backing off", n)
	}
}
