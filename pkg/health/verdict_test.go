package health

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return u
}

// pod is a pod of the app "hello" in namespace "hello" with one container in
// the given state.
func pod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "hello", Labels: map[string]string{"app": "hello", "pod-template-hash": "5d8f"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func slim(pods ...*corev1.Pod) []*Pod {
	out := make([]*Pod, len(pods))
	for i, p := range pods {
		out[i] = slimPod(p)
	}
	return out
}

func waiting(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses[0].Ready = false
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "long message " + strings.Repeat("x", 100)}}
	}
}

func lastExit(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: 137}}
	}
}

func inNamespace(ns string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Namespace = ns } }
func labelled(app string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
}
func terminating(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: hello, generation: 1}
spec:
  replicas: 1
  selector: {matchLabels: {app: hello}}
  template: {metadata: {labels: {app: hello}}, spec: {containers: [{name: app, image: nginx}]}}
`

func deploymentWith(status string) string { return deployment + "status:\n" + status }

const deploymentImagePull = `
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  unavailableReplicas: 1
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated}
`

func TestVerdictWorkloads(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		pods []*corev1.Pod
		want Verdict
	}{
		{
			name: "deployment available",
			obj: deploymentWith(`
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
`),
			pods: []*corev1.Pod{pod("hello-1")},
			want: Verdict{Status: Current},
		},
		{
			name: "deployment progressing, pod starting",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", waiting("ContainerCreating"))},
			want: Verdict{Status: InProgress, Reason: "LessAvailable", Message: "0/1 ready"},
		},
		{
			name: "deployment rolling out",
			obj: strings.Replace(deploymentWith(`
  observedGeneration: 1
  replicas: 3
  updatedReplicas: 1
  readyReplicas: 3
  availableReplicas: 3
`), "replicas: 1\n", "replicas: 3\n", 1),
			want: Verdict{Status: InProgress, Reason: "LessUpdated", Message: "3/3 ready: Updated: 1/3"},
		},
		{
			name: "deployment generation not observed",
			obj:  strings.Replace(deploymentWith(deploymentImagePull), "generation: 1}", "generation: 2}", 1),
			want: Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "0/1 ready: Deployment generation is 2, but latest observed generation is 1"},
		},
		{
			name: "deployment image cannot be pulled",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", waiting("ImagePullBackOff"))},
			want: Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/1 ready: ImagePullBackOff"},
		},
		{
			name: "deployment first pull error",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", waiting("ErrImagePull"))},
			want: Verdict{Status: Failed, Reason: "ErrImagePull", Message: "0/1 ready: ErrImagePull"},
		},
		{
			name: "deployment crash looping, last exit says why",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", waiting("CrashLoopBackOff"), lastExit("OOMKilled"))},
			want: Verdict{Status: Failed, Reason: "CrashLoopBackOff", Message: "0/1 ready: CrashLoopBackOff (OOMKilled)"},
		},
		{
			name: "deployment crash looping with a plain error exit",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", waiting("CrashLoopBackOff"), lastExit("Error"))},
			want: Verdict{Status: Failed, Reason: "CrashLoopBackOff", Message: "0/1 ready: CrashLoopBackOff"},
		},
		{
			name: "pods of other apps, other namespaces and terminating pods do not count",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{
				pod("other-1", waiting("ImagePullBackOff"), labelled("other")),
				pod("hello-1", waiting("ImagePullBackOff"), inNamespace("elsewhere")),
				pod("hello-2", waiting("CrashLoopBackOff"), terminating),
				pod("hello-3", waiting("ContainerCreating")),
			},
			want: Verdict{Status: InProgress, Reason: "LessAvailable", Message: "0/1 ready"},
		},
		{
			name: "pods disagree: failures first, each reason once",
			obj:  strings.Replace(deploymentWith(deploymentImagePull), "replicas: 1\n", "replicas: 3\n", 1),
			pods: []*corev1.Pod{
				pod("hello-1", func(p *corev1.Pod) {
					p.Status.Phase = corev1.PodPending
					p.Status.ContainerStatuses = nil
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}
				}),
				pod("hello-2", waiting("CrashLoopBackOff")),
				pod("hello-3", waiting("ImagePullBackOff")),
				pod("hello-4", waiting("ImagePullBackOff")),
			},
			want: Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/3 ready: ImagePullBackOff, CrashLoopBackOff, Unschedulable"},
		},
		{
			name: "unschedulable pods explain but do not fail",
			obj:  deploymentWith(deploymentImagePull),
			pods: []*corev1.Pod{pod("hello-1", func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses = nil
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}
			})},
			want: Verdict{Status: InProgress, Reason: "LessAvailable", Message: "0/1 ready: Unschedulable"},
		},
		{
			name: "deployment rollout stuck past its deadline",
			obj: deploymentWith(`
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  unavailableReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: 'ReplicaSet "hello-5d8f" has timed out progressing.'}
`),
			want: Verdict{Status: Failed, Reason: "ProgressDeadlineExceeded", Message: "0/1 ready: Progress deadline exceeded"},
		},
		{
			name: "stuck rollout names the pods' problem",
			obj: deploymentWith(`
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded}
`),
			pods: []*corev1.Pod{pod("hello-1", waiting("CreateContainerConfigError"))},
			want: Verdict{Status: Failed, Reason: "CreateContainerConfigError", Message: "0/1 ready: CreateContainerConfigError"},
		},
		{
			name: "statefulset scaling",
			obj: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: hello, generation: 1}
spec: {replicas: 3, selector: {matchLabels: {app: hello}}, serviceName: db}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 2, currentReplicas: 3, updatedReplicas: 3, currentRevision: a, updateRevision: a}
`,
			pods: []*corev1.Pod{pod("db-0"), pod("db-1"), pod("db-2", waiting("ContainerCreating"))},
			want: Verdict{Status: InProgress, Reason: "LessReady", Message: "2/3 ready"},
		},
		{
			name: "statefulset current",
			obj: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: hello, generation: 1}
spec: {replicas: 2, selector: {matchLabels: {app: hello}}, serviceName: db}
status: {observedGeneration: 1, replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 2, currentRevision: a, updateRevision: a}
`,
			want: Verdict{Status: Current},
		},
		{
			name: "daemonset crash looping",
			obj: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: hello, generation: 1}
spec: {selector: {matchLabels: {app: hello}}}
status: {observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1, numberReady: 1}
`,
			pods: []*corev1.Pod{pod("agent-a"), pod("agent-b", waiting("CrashLoopBackOff"))},
			want: Verdict{Status: Failed, Reason: "CrashLoopBackOff", Message: "1/2 ready: CrashLoopBackOff"},
		},
		{
			name: "daemonset current",
			obj: `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: hello, generation: 1}
spec: {selector: {matchLabels: {app: hello}}}
status: {observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2}
`,
			want: Verdict{Status: Current},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(obj(t, tc.obj), slim(tc.pods...)); got != tc.want {
				t.Errorf("Of() = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}

const job = `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: hello, generation: 1}
spec:
  completions: 1
  selector: {matchLabels: {batch.kubernetes.io/controller-uid: "1234"}}
  template: {spec: {restartPolicy: Never, containers: [{name: app, image: busybox}]}}
`

func jobPod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := pod("migrate-x", mutate...)
	p.Labels = map[string]string{"batch.kubernetes.io/controller-uid": "1234"}
	return p
}

func TestVerdictJobsAndPods(t *testing.T) {
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name string
		obj  string
		pods []*corev1.Pod
		want Verdict
	}{
		{
			name: "job not started",
			obj:  job,
			want: Verdict{Status: InProgress, Reason: "JobNotStarted", Message: "0/1 succeeded: Job not started"},
		},
		{
			name: "job running",
			obj:  job + "status: {startTime: '2026-01-01T00:00:00Z', active: 1}\n",
			pods: []*corev1.Pod{jobPod()},
			want: Verdict{Status: Current},
		},
		{
			name: "job running but its pod cannot pull",
			obj:  job + "status: {startTime: '2026-01-01T00:00:00Z', active: 1}\n",
			pods: []*corev1.Pod{jobPod(waiting("ImagePullBackOff"))},
			want: Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "0/1 succeeded: ImagePullBackOff"},
		},
		{
			name: "job complete",
			obj: job + `status:
  startTime: '2026-01-01T00:00:00Z'
  succeeded: 1
  conditions: [{type: SuccessCriteriaMet, status: "True"}, {type: Complete, status: "True"}]
`,
			want: Verdict{Status: Current},
		},
		{
			name: "job failed",
			obj: job + `status:
  startTime: '2026-01-01T00:00:00Z'
  failed: 2
  conditions: [{type: FailureTarget, status: "True"}, {type: Failed, status: "True", reason: BackoffLimitExceeded}]
`,
			pods: []*corev1.Pod{jobPod(func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}
			})},
			want: Verdict{Status: Failed, Reason: "JobFailed", Message: "0/1 succeeded: BackoffLimitExceeded"},
		},
		{
			name: "pod running and ready",
			obj: `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: hello}
status: {phase: Running, conditions: [{type: Ready, status: "True"}]}
`,
			want: Verdict{Status: Current},
		},
		{
			name: "pod cannot pull its image",
			obj: `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: hello, creationTimestamp: '` + old + `'}
status:
  phase: Pending
  containerStatuses: [{name: app, ready: false, restartCount: 0, image: registry.invalid/app, imageID: "", state: {waiting: {reason: ImagePullBackOff}}}]
`,
			want: Verdict{Status: Failed, Reason: "ImagePullBackOff", Message: "Pending: ImagePullBackOff"},
		},
		{
			name: "pod pending",
			obj: `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: hello}
status: {phase: Pending}
`,
			want: Verdict{Status: InProgress, Reason: "PodPending", Message: "Pod is in the Pending phase"},
		},
		{
			name: "pod crash looping",
			obj: `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: hello}
status:
  phase: Running
  containerStatuses: [{name: app, ready: false, restartCount: 4, image: app, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}, lastState: {terminated: {reason: OOMKilled, exitCode: 137}}}]
`,
			want: Verdict{Status: Failed, Reason: "CrashLoopBackOff", Message: "Running: CrashLoopBackOff (OOMKilled)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(obj(t, tc.obj), slim(tc.pods...)); got != tc.want {
				t.Errorf("Of() = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}

func TestVerdictOtherKinds(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want Verdict
	}{
		{"pvc pending", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: hello}
status: {phase: Pending}
`, Verdict{Status: InProgress, Reason: "NotBound", Message: "PVC is not Bound. phase: Pending"}},
		{"pvc bound", `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: hello}
status: {phase: Bound}
`, Verdict{Status: Current}},
		{"service", `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: hello}
spec: {type: ClusterIP, clusterIP: 10.0.0.10}
`, Verdict{Status: Current}},
		{"load balancer without an address", `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: hello}
spec: {type: LoadBalancer}
`, Verdict{Status: InProgress, Reason: "NoIPAssigned", Message: "ClusterIP not set. Service type: LoadBalancer"}},
		{"configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: hello}
data: {a: b}
`, Verdict{Status: Current}},
		{"custom resource ready", `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello, generation: 3}
status: {observedGeneration: 3, conditions: [{type: Ready, status: "True", reason: Provisioned}]}
`, Verdict{Status: Current}},
		{"custom resource not ready", `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello, generation: 3}
status: {observedGeneration: 3, conditions: [{type: Ready, status: "False", reason: Provisioning, message: "waiting for storage"}]}
`, Verdict{Status: InProgress, Reason: "Provisioning", Message: "waiting for storage"}},
		{"custom resource ready false without a message", `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello}
status: {conditions: [{type: Ready, status: "False", reason: Provisioning}]}
`, Verdict{Status: InProgress, Reason: "Provisioning", Message: "Provisioning"}},
		{"custom resource stalled", `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello}
status: {conditions: [{type: Stalled, status: "True", reason: QuotaExceeded, message: "storage quota exceeded"}]}
`, Verdict{Status: Failed, Reason: "QuotaExceeded", Message: "storage quota exceeded"}},
		{"custom resource with an old generation observed", `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello, generation: 4}
status: {observedGeneration: 3, conditions: [{type: Ready, status: "True"}]}
`, Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "Database generation is 4, but latest observed generation is 3"}},
		{"custom resource without status", `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: hello}
`, Verdict{Status: Current}},
		{"terminating deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: hello, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [x]}
spec: {replicas: 1}
`, Verdict{Status: Terminating, Reason: "Terminating", Message: "Resource scheduled for deletion"}},
		{"terminating configmap", `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: hello, deletionTimestamp: '2026-01-01T00:00:00Z'}
`, Verdict{Status: Terminating, Reason: "Terminating", Message: "Resource scheduled for deletion"}},
		{"unreadable status", `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: hello}
status: {conditions: "not a list"}
`, Verdict{Status: Unknown, Reason: "StatusUnreadable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Of(obj(t, tc.obj), nil)
			if tc.want.Status == Unknown {
				// The converter's wording is not ours to pin.
				if got.Status != Unknown || got.Reason != tc.want.Reason || !strings.HasPrefix(got.Message, "Cannot read status: ") {
					t.Errorf("Of() = %+v, want Unknown/%s with the error", got, tc.want.Reason)
				}
				return
			}
			if got != tc.want {
				t.Errorf("Of() = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
	if got := Of(nil, nil); got.Status != NotFound || got.Message == "" {
		t.Errorf("Of(nil) = %+v, want NotFound with a message", got)
	}
}

func TestVerdictMessageIsBounded(t *testing.T) {
	long := strings.Repeat("é", 400)
	got := Of(obj(t, `
apiVersion: example.com/v1
kind: Database
metadata: {name: db, namespace: hello}
status: {conditions: [{type: Ready, status: "False", reason: Provisioning, message: "`+long+`"}]}
`), nil)
	if len(got.Message) > maxMessage || !strings.HasSuffix(got.Message, "...") || !strings.HasPrefix(got.Message, "éé") {
		t.Errorf("message of %d bytes not cut to %d: %q", len(got.Message), maxMessage, got.Message)
	}
	if strings.ContainsRune(got.Message, '\uFFFD') {
		t.Errorf("message cut inside a rune: %q", got.Message)
	}
}

// Subscriptions and Channels an app of apps deploys are healthy once the hub
// observed them: their own Ready (drift, a held rollback, a failing app) is
// theirs to show, not the parent's; only a spec the hub rejects is the
// parent's fault.
func TestVerdictAppsDeployedAsContent(t *testing.T) {
	sub := func(gen int, status string) string {
		return fmt.Sprintf(`
apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata: {name: guestbook-dev, namespace: guestbook, generation: %d}
spec: {channel: fleet/repo}
status: %s
`, gen, status)
	}
	tests := []struct {
		name string
		obj  string
		want Verdict
	}{
		{"ready", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "True", reason: Succeeded, observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"drifted", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: DriftDetected, message: "drift on 1/1 clusters", observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"degraded app", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: Degraded, message: "0/1 ready: ImagePullBackOff", observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"rollback held", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: RolledBack, observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"channel not found yet", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: ChannelNotFound, observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"new generation not observed", sub(3, `{observedGeneration: 2, conditions: [{type: Ready, status: "True", reason: Succeeded, observedGeneration: 2}]}`),
			Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "Subscription generation 3 not yet observed by the hub (observed: 2)"}},
		{"never observed", sub(1, `{}`),
			Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "Subscription generation 1 not yet observed by the hub (observed: 0)"}},
		{"observed by its Ready only", sub(2, `{conditions: [{type: Ready, status: "False", reason: DriftDetected, observedGeneration: 2}]}`),
			Verdict{Status: Current}},
		{"invalid spec", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: InvalidSpec, message: "spec.timeWindow: bad hours", observedGeneration: 2}]}`),
			Verdict{Status: Failed, Reason: "InvalidSpec", Message: "InvalidSpec: spec.timeWindow: bad hours"}},
		{"access denied", sub(2, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: AccessDenied, observedGeneration: 2}]}`),
			Verdict{Status: Failed, Reason: "AccessDenied", Message: "AccessDenied"}},
		{"invalid spec of an older generation", sub(3, `{observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: InvalidSpec, observedGeneration: 2}]}`),
			Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "Subscription generation 3 not yet observed by the hub (observed: 2)"}},
		{"channel unreachable", `
apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata: {name: repo, namespace: fleet, generation: 1}
spec: {type: Git, pathname: "https://example.com/repo.git"}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "False", reason: AuthenticationFailed, observedGeneration: 1}]}
`, Verdict{Status: Current}},
		{"channel invalid", `
apiVersion: apps.open-cluster-management.io/v1
kind: Channel
metadata: {name: repo, namespace: fleet, generation: 1}
spec: {type: Git}
status: {observedGeneration: 1, conditions: [{type: Ready, status: "False", reason: InvalidSpec, message: "spec.pathname is required", observedGeneration: 1}]}
`, Verdict{Status: Failed, Reason: "InvalidSpec", Message: "InvalidSpec: spec.pathname is required"}},
		{"terminating", `
apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata: {name: guestbook-dev, namespace: guestbook, generation: 2, deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [x]}
status: {observedGeneration: 2}
`, Verdict{Status: Terminating, Reason: "Terminating", Message: "Resource scheduled for deletion"}},
		{"no status yet", `
apiVersion: apps.open-cluster-management.io/v1
kind: Subscription
metadata: {name: guestbook-dev, namespace: guestbook, generation: 1}
`, Verdict{Status: InProgress, Reason: "LatestGenerationNotObserved", Message: "Subscription generation 1 not yet observed by the hub (observed: 0)"}},
		{"status from OCM's own application manager", sub(2, `{phase: Subscribed, lastUpdateTime: '2026-01-01T00:00:00Z'}`),
			Verdict{Status: Current}},
		{"another group's Subscription", `
apiVersion: operators.coreos.com/v1alpha1
kind: Subscription
metadata: {name: op, namespace: ops, generation: 2}
status: {observedGeneration: 2, conditions: [{type: Ready, status: "False", reason: Installing, message: "installing"}]}
`, Verdict{Status: InProgress, Reason: "Installing", Message: "installing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(obj(t, tc.obj), nil); got != tc.want {
				t.Errorf("Of() = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}
