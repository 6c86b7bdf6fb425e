package work_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/klusterlet/work"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// A ManifestWork as OCM's documentation and clusteradm write it: YAML
// manifests, a server-side apply config and WellKnownStatus feedback for the
// Deployment, none for the rest (so they use OCM's default Update).
const ocmWork = `
apiVersion: work.open-cluster-management.io/v1
kind: ManifestWork
metadata:
  name: hello-work
spec:
  workload:
    manifests:
    - apiVersion: v1
      kind: ServiceAccount
      metadata:
        namespace: interop
        name: my-sa
    - apiVersion: apps/v1
      kind: Deployment
      metadata:
        namespace: interop
        name: hello-world
        labels:
          app: hello
      spec:
        replicas: 1
        selector:
          matchLabels:
            app: hello
        template:
          metadata:
            labels:
              app: hello
          spec:
            serviceAccountName: my-sa
            containers:
            - name: hello
              image: quay.io/asmacdo/busybox
              command: ["sh", "-c", 'echo "Hello, Kubernetes!" && sleep 3600']
  deleteOption:
    propagationPolicy: SelectivelyOrphan
    selectivelyOrphans:
      orphaningRules:
      - group: ""
        resource: serviceaccounts
        namespace: interop
        name: my-sa
  manifestConfigs:
  - resourceIdentifier:
      group: apps
      resource: deployments
      namespace: interop
      name: hello-world
    feedbackRules:
    - type: WellKnownStatus
    - type: JSONPaths
      jsonPaths:
      - name: isAvailable
        path: '.status.conditions[?(@.type=="Available")].status'
    updateStrategy:
      type: ServerSideApply
      serverSideApply:
        force: true
  - resourceIdentifier:
      group: ""
      resource: "serviceaccounts"
      namespace: "*"
      name: "my-*"
    updateStrategy:
      type: CreateOnly
`

func TestOCMWrittenManifestWork(t *testing.T) {
	ctx := context.Background()
	cluster := newCluster(t, "interop-cluster")
	w := &workv1.ManifestWork{}
	if err := yaml.Unmarshal([]byte(ocmWork), w); err != nil {
		t.Fatal(err)
	}
	w.Namespace = cluster
	createNS(t, spokeC, "interop")
	startAgent(t, cluster, nil)
	createWork(t, w)
	w = waitWorkCondition(t, cluster, "hello-work", workv1.WorkApplied, metav1.ConditionTrue, 20*time.Second)

	dep := &appsv1.Deployment{}
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: "interop", Name: "hello-world"}, dep); err != nil {
		t.Fatal(err)
	}
	if !hasManager(dep.ManagedFields, workv1.DefaultFieldManager) {
		t.Errorf("Deployment managers = %v, want OCM's default %s", managers(dep.ManagedFields), workv1.DefaultFieldManager)
	}
	// A controller reports progress; the feedback follows.
	dep.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
	if err := spokeC.Status().Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "WellKnownStatus and JSONPaths feedback", func() error {
		w = getWork(t, cluster, "hello-work")
		got := map[string]string{}
		for _, v := range w.Status.ResourceStatus.Manifests[1].StatusFeedbacks.Values {
			switch {
			case v.Value.Integer != nil:
				got[v.Name] = strconv.FormatInt(*v.Value.Integer, 10)
			case v.Value.String != nil:
				got[v.Name] = *v.Value.String
			}
		}
		return holds(got["ReadyReplicas"] == "1" && got["Replicas"] == "1" && got["AvailableReplicas"] == "1" && got["isAvailable"] == "True",
			"feedback "+toString(got))
	})
	if c := manifestCondition(w, 0, work.ConditionStatusFeedbackSynced); c == nil || c.Reason != work.ReasonNoStatusFeedbackSynced {
		t.Errorf("ServiceAccount StatusFeedbackSynced = %+v", c)
	}

	// Deleting the work keeps the selectively orphaned ServiceAccount.
	if err := hubC.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, "work finalized", func() error { return holds(getWork(t, cluster, "hello-work") == nil, "still there") })
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: "interop", Name: "hello-world"}, &appsv1.Deployment{}); err == nil {
		t.Error("the Deployment survived the work")
	}
	if err := spokeC.Get(ctx, client.ObjectKey{Namespace: "interop", Name: "my-sa"}, &corev1.ServiceAccount{}); err != nil {
		t.Errorf("the orphaned ServiceAccount was removed: %v", err)
	}
}

func toString(m map[string]string) string {
	b, _ := yaml.Marshal(m)
	return string(b)
}
