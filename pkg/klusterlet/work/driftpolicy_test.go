package work_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	apisv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// TestDriftPolicyBackToCorrect: drift reported under ReportOnly is corrected
// once the work's policy is Correct again, with no new content and no other
// edit of the object (the README tour says so). Before, the agent kept the
// verdict it had taken of that very resourceVersion and left the drift.
func TestDriftPolicyBackToCorrect(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "driftpolicy")
	ns := "driftpolicy-apps"
	createNS(t, spokeC, ns)
	startAgent(t, cluster, nil)
	createWork(t, hubLikeWork(cluster, "app", true, configMap(ns, "cfg", map[string]string{"key": "v"})))
	waitWorkCondition(t, cluster, "app", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)

	cm := getCM(t, ns, "cfg")
	cm.Data["key"] = "edited"
	if err := spokeC.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitWorkCondition(t, cluster, "app", work.ConditionDrifted, metav1.ConditionTrue, 10*time.Second)
	if got := getCM(t, ns, "cfg").Data["key"]; got != "edited" {
		t.Fatalf("report-only drift corrected: key %q", got)
	}

	w := getWork(t, cluster, "app")
	w.Annotations[apisv1.AnnotationDriftPolicy] = string(apisv1.DriftCorrect)
	if err := hubC.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "the drift corrected under Correct", func() error {
		got := getCM(t, ns, "cfg").Data["key"]
		return holds(got == "v", "key "+got)
	})
	waitWorkCondition(t, cluster, "app", work.ConditionDrifted, metav1.ConditionFalse, 10*time.Second)
}
