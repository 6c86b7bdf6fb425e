package commitstatus

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/gitprovider"
)

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func cond(typ string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
}

func cluster(name string, state appsv1.ClusterState, msg string, drift ...appsv1.DriftedObject) appsv1.ClusterStatus {
	return appsv1.ClusterStatus{Name: name, State: state, Message: msg, Drift: drift}
}

func drifted(kind, name string, fields ...string) appsv1.DriftedObject {
	return appsv1.DriftedObject{ObjectReference: appsv1.ObjectReference{APIVersion: "apps/v1", Kind: kind, Namespace: "default", Name: name}, Fields: fields}
}

func sub(st appsv1.SubscriptionStatus) *appsv1.Subscription {
	s := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web", Generation: 1}, Status: st}
	if s.Status.LastAppliedRevision == "" {
		s.Status.LastAppliedRevision = "main@sha1:" + shaA
	}
	return s
}

func TestAggregate(t *testing.T) {
	cases := []struct {
		name  string
		sub   *appsv1.Subscription
		state gitprovider.State
		desc  string
	}{{
		name:  "rolling out",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 12, Progressing: 20, Pending: 8}}),
		state: gitprovider.StatePending, desc: "rolling out: 12/40 applied",
	}, {
		name: "stale: a newer commit does not render",
		sub: sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 2, Stale: 2},
			Clusters: []appsv1.ClusterStatus{cluster("a", appsv1.ClusterStale, "holds main@0123456; main@89abcde fails to render (see the Rendered condition)")}}),
		state: gitprovider.StateSuccess, desc: "applied on 2/2; stale: holds main@0123456; main@89abcde fails to render (see the Rendered condition)",
	}, {
		name: "removal held, none selected",
		sub: sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Held: 1},
			Conditions: []metav1.Condition{cond(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld, "removing this Subscription's objects from 1 of 1 clusters exceeds the deletion budget")}}),
		state: gitprovider.StatePending, desc: "no clusters selected; removal from 1 held: removing this Subscription's objects from 1 of 1 clusters exceeds the deletion budget",
	}, {
		name: "applied everywhere, overriding another Subscription on one cluster",
		sub: sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 2, Applied: 2, Healthy: 2},
			Clusters: []appsv1.ClusterStatus{{Name: "a", State: appsv1.ClusterApplied}, {Name: "b", State: appsv1.ClusterApplied, Overrides: []string{"fleet/prod"}}}}),
		state: gitprovider.StateSuccess, desc: "healthy on 2/2; b overrides fleet/prod",
	}, {
		name:  "applied everywhere",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 40}}),
		state: gitprovider.StateSuccess, desc: "applied on 40/40",
	}, {
		name: "drift",
		sub: sub(appsv1.SubscriptionStatus{
			Summary:  appsv1.ClusterSummary{Selected: 40, Applied: 39, Drifted: 1},
			Clusters: []appsv1.ClusterStatus{cluster("east-1", appsv1.ClusterDrifted, "drift: Deployment default/web .spec.replicas", drifted("Deployment", "web", ".spec.replicas"))},
		}),
		state: gitprovider.StateFailure, desc: "drift on 1/40: east-1 Deployment/web .spec.replicas",
	}, {
		name: "drift on several objects, one deleted first",
		sub: sub(appsv1.SubscriptionStatus{
			Summary: appsv1.ClusterSummary{Selected: 3, Applied: 1, Drifted: 2},
			Clusters: []appsv1.ClusterStatus{
				cluster("a", appsv1.ClusterDrifted, "", appsv1.DriftedObject{ObjectReference: appsv1.ObjectReference{Kind: "ConfigMap", Name: "cfg"}, Deleted: true}, drifted("Deployment", "web", ".spec.replicas")),
				cluster("b", appsv1.ClusterDrifted, ""),
			},
		}),
		state: gitprovider.StateFailure, desc: "drift on 2/3: a ConfigMap/cfg deleted (+1 more)",
	}, {
		name: "drift without object details uses the message",
		sub: sub(appsv1.SubscriptionStatus{
			Summary:  appsv1.ClusterSummary{Selected: 2, Applied: 1, Drifted: 1},
			Clusters: []appsv1.ClusterStatus{cluster("b", appsv1.ClusterDrifted, "drift: Service default/web .spec.ports")},
		}),
		state: gitprovider.StateFailure, desc: "drift on 1/2: b Service default/web .spec.ports",
	}, {
		name: "apply failed wins over drift",
		sub: sub(appsv1.SubscriptionStatus{
			Summary: appsv1.ClusterSummary{Selected: 40, Applied: 37, Failed: 2, Drifted: 1},
			Clusters: []appsv1.ClusterStatus{
				cluster("west-2", appsv1.ClusterFailed, "apply failed: Deployment default/web: field is immutable"),
				cluster("west-3", appsv1.ClusterFailed, "apply failed: x"),
				cluster("east-1", appsv1.ClusterDrifted, ""),
			},
		}),
		state: gitprovider.StateFailure, desc: "apply failed on 2/40: west-2 Deployment default/web: field is immutable",
	}, {
		name: "rollout failed",
		sub: sub(appsv1.SubscriptionStatus{
			Summary: appsv1.ClusterSummary{Selected: 10, Applied: 4, Pending: 6},
			Rollout: &appsv1.RolloutStatus{Revision: "main@sha1:" + shaA, Phase: appsv1.RolloutFailed, Message: "group canary: 2 clusters timed out"},
		}),
		state: gitprovider.StateFailure, desc: "rollout failed: group canary: 2 clusters timed out",
	}, {
		name: "rollout failure of another revision is ignored",
		sub: sub(appsv1.SubscriptionStatus{
			Summary: appsv1.ClusterSummary{Selected: 10, Applied: 10},
			Rollout: &appsv1.RolloutStatus{Revision: "main@sha1:" + shaB, Phase: appsv1.RolloutFailed},
		}),
		state: gitprovider.StateSuccess, desc: "applied on 10/10",
	}, {
		name:  "rollout paused",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 10, Applied: 4, Pending: 6}, Rollout: &appsv1.RolloutStatus{Phase: appsv1.RolloutPaused}}),
		state: gitprovider.StatePending, desc: "rollout paused: 4/10 applied",
	}, {
		name: "window closed",
		sub: sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 10, Applied: 4, Pending: 6},
			Conditions: []metav1.Condition{cond(appsv1.ConditionWindowOpen, false, appsv1.ReasonWindowClosed, "")}}),
		state: gitprovider.StatePending, desc: "waiting for a deployment window: 4/10 applied",
	}, {
		name: "deletion held",
		sub: sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 10, Applied: 4, Pending: 6},
			Conditions: []metav1.Condition{cond(appsv1.ConditionDeletionHeld, true, appsv1.ReasonDeletionHeld, "")}}),
		state: gitprovider.StatePending, desc: "held by the deletion budget: 4/10 applied",
	}, {
		name: "paused by label",
		sub: func() *appsv1.Subscription {
			s := sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 10, Applied: 4, Pending: 6}})
			s.Labels = map[string]string{appsv1.LabelSubscriptionPause: "true"}
			return s
		}(),
		state: gitprovider.StatePending, desc: "paused: 4/10 applied",
	}, {
		name:  "applied except offline clusters",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 38, Offline: 2}}),
		state: gitprovider.StatePending, desc: "applied on 38/40, 2 offline",
	}, {
		name:  "rolling out with offline clusters",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 30, Progressing: 9, Offline: 1}}),
		state: gitprovider.StatePending, desc: "rolling out: 30/40 applied, 1 offline",
	}, {
		name:  "healthy everywhere",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 40, Healthy: 40}}),
		state: gitprovider.StateSuccess, desc: "healthy on 40/40",
	}, {
		name:  "applied, not healthy yet",
		sub:   sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 40, Applied: 38, Healthy: 38, Progressing: 2}}),
		state: gitprovider.StatePending, desc: "rolling out: healthy on 38/40, 2 progressing",
	}, {
		name: "degraded",
		sub: sub(appsv1.SubscriptionStatus{
			Summary:  appsv1.ClusterSummary{Selected: 40, Applied: 39, Healthy: 39, Degraded: 1},
			Clusters: []appsv1.ClusterStatus{cluster("c1", appsv1.ClusterDegraded, "Deployment apps/web: 0/1 ready:\n ImagePullBackOff")},
		}),
		state: gitprovider.StateFailure, desc: "degraded on 1/40: c1 Deployment apps/web: 0/1 ready: ImagePullBackOff",
	}, {
		name:  "no clusters selected",
		sub:   sub(appsv1.SubscriptionStatus{Conditions: []metav1.Condition{cond(appsv1.ConditionPlaced, false, appsv1.ReasonNoClusters, "the placement selects no clusters")}}),
		state: gitprovider.StateError, desc: "no clusters: the placement selects no clusters",
	}, {
		name:  "no clusters and no condition",
		sub:   sub(appsv1.SubscriptionStatus{}),
		state: gitprovider.StateError, desc: "no clusters selected",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state, desc := Aggregate(tc.sub)
			assert.Equal(t, tc.state, state)
			assert.Equal(t, tc.desc, desc)
		})
	}
}

func TestContext(t *testing.T) {
	assert.Equal(t, "ocm-gitops/apps/web", Context(Settings{}, "apps", "web"))
	assert.Equal(t, "deploy/apps/web", Context(Settings{Prefix: "deploy/"}, "apps", "web"))
	assert.Equal(t, "ocm-gitops/hub-eu/apps/web", Context(Settings{HubID: "hub-eu"}, "apps", "web"))
}

func TestDesired(t *testing.T) {
	s := Settings{TargetURL: "https://hub.example.com"}

	t.Run("aggregated status on the deployed commit with its ref", func(t *testing.T) {
		got := Desired(sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 2, Applied: 2}}), s, nil)
		require.Len(t, got, 1)
		assert.Equal(t, Target{SHA: shaA, Status: gitprovider.Status{State: gitprovider.StateSuccess, Context: "ocm-gitops/apps/web",
			Description: "applied on 2/2", TargetURL: "https://hub.example.com", Ref: "main"}}, got[0])
	})

	t.Run("nothing without a Git commit", func(t *testing.T) {
		x := sub(appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 2, Applied: 2}})
		x.Status.LastAppliedRevision = "web-1.2.3"
		assert.Empty(t, Desired(x, s, nil))
	})

	t.Run("the git-current-commit annotation when no revision is recorded", func(t *testing.T) {
		x := &appsv1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web",
			Annotations: map[string]string{appsv1.AnnotationGitCurrentCommit: shaB}},
			Status: appsv1.SubscriptionStatus{Summary: appsv1.ClusterSummary{Selected: 1, Applied: 1}}}
		got := Desired(x, s, nil)
		require.Len(t, got, 1)
		assert.Equal(t, shaB, got[0].SHA)
		assert.Equal(t, "", got[0].Status.Ref)
	})

	t.Run("a newer commit that does not render fails on that commit; the deployed one keeps its status", func(t *testing.T) {
		x := sub(appsv1.SubscriptionStatus{
			LastAttemptedRevision: "main@sha1:" + shaB,
			Summary:               appsv1.ClusterSummary{Selected: 2, Applied: 2},
			Conditions:            []metav1.Condition{cond(appsv1.ConditionRendered, false, appsv1.ReasonRenderFailed, "cluster east-1: kustomize build:\n  missing resource")},
		})
		got := Desired(x, s, nil)
		require.Len(t, got, 2)
		assert.Equal(t, shaB, got[0].SHA)
		assert.Equal(t, gitprovider.StateFailure, got[0].Status.State)
		assert.Equal(t, "render failed: cluster east-1: kustomize build: missing resource", got[0].Status.Description)
		assert.Equal(t, "ocm-gitops/apps/web", got[0].Status.Context)
		assert.Equal(t, shaA, got[1].SHA)
		assert.Equal(t, gitprovider.StateSuccess, got[1].Status.State)
	})

	t.Run("the deployed commit failing to render for a new cluster fails it", func(t *testing.T) {
		x := sub(appsv1.SubscriptionStatus{
			LastAttemptedRevision: "main@sha1:" + shaA,
			Summary:               appsv1.ClusterSummary{Selected: 3, Applied: 2, Pending: 1},
			Conditions:            []metav1.Condition{cond(appsv1.ConditionRendered, false, appsv1.ReasonRenderFailed, "cluster c: bad value")},
		})
		got := Desired(x, s, nil)
		require.Len(t, got, 1)
		assert.Equal(t, gitprovider.StateFailure, got[0].Status.State)
		assert.Equal(t, "render failed: cluster c: bad value", got[0].Status.Description)
	})

	t.Run("ManifestWorks that cannot be written are the hub's error", func(t *testing.T) {
		x := sub(appsv1.SubscriptionStatus{
			LastAttemptedRevision: "main@sha1:" + shaB,
			Summary:               appsv1.ClusterSummary{Selected: 2, Applied: 2},
			Conditions:            []metav1.Condition{cond(appsv1.ConditionApplied, false, appsv1.ReasonWorkWriteFailed, "namespace east-1 not found")},
		})
		got := Desired(x, s, nil)
		require.Len(t, got, 2)
		assert.Equal(t, Target{SHA: shaB, Status: gitprovider.Status{State: gitprovider.StateError, Context: "ocm-gitops/apps/web",
			Description: "hub could not write ManifestWorks: namespace east-1 not found", TargetURL: "https://hub.example.com", Ref: "main"}}, got[0])
	})
}

func TestDesiredRollback(t *testing.T) {
	s := Settings{}
	rb := &appsv1.RollbackStatus{Revision: "main@sha1:" + shaB, Phase: appsv1.RollbackDone, Cause: "c1: Deployment apps/web: 0/1 ready: ImagePullBackOff",
		RestoredRevisions: []string{"main@sha1:" + shaA}}

	t.Run("the commit rolled back fails, the restored one is judged as usual", func(t *testing.T) {
		got := Desired(sub(appsv1.SubscriptionStatus{LastAttemptedRevision: "main@sha1:" + shaB, Rollback: rb,
			Summary: appsv1.ClusterSummary{Selected: 2, Applied: 2, Healthy: 2}}), s, nil)
		require.Len(t, got, 2)
		assert.Equal(t, Target{SHA: shaB, Status: gitprovider.Status{State: gitprovider.StateFailure, Context: "ocm-gitops/apps/web", Ref: "main",
			Description: "rolled back to main@aaaaaaa: c1: Deployment apps/web: 0/1 ready: ImagePullBackOff"}}, got[0])
		assert.Equal(t, shaA, got[1].SHA)
		assert.Equal(t, gitprovider.StateSuccess, got[1].Status.State)
		assert.Equal(t, "healthy on 2/2", got[1].Status.Description)
	})

	t.Run("a rollback that restored nothing yet fails the deployed commit", func(t *testing.T) {
		x := *rb
		x.Phase, x.RestoredRevisions = appsv1.RollbackInProgress, nil
		got := Desired(sub(appsv1.SubscriptionStatus{LastAppliedRevision: "main@sha1:" + shaB, Rollback: &x,
			Summary: appsv1.ClusterSummary{Selected: 2, Applied: 1, Healthy: 1, Degraded: 1}}), s, nil)
		require.Len(t, got, 1)
		assert.Equal(t, shaB, got[0].SHA)
		assert.Equal(t, gitprovider.StateFailure, got[0].Status.State)
		assert.Equal(t, "rolling back: c1: Deployment apps/web: 0/1 ready: ImagePullBackOff", got[0].Status.Description)
	})
}

func TestDesiredPerCluster(t *testing.T) {
	s := Settings{PerCluster: true, MaxPerCluster: 3}
	st := appsv1.SubscriptionStatus{
		Summary: appsv1.ClusterSummary{Selected: 4, Applied: 2, Drifted: 1, Progressing: 1},
		Clusters: []appsv1.ClusterStatus{
			cluster("east-1", appsv1.ClusterDrifted, "", drifted("Deployment", "web", ".spec.replicas")),
			cluster("east-2", appsv1.ClusterProgressing, "waiting for the agent to apply"),
			cluster("west-1", appsv1.ClusterApplied, ""),
			cluster("west-2", appsv1.ClusterApplied, ""),
		},
	}
	byContext := func(ts []Target) map[string]string {
		out := map[string]string{}
		for _, t := range ts {
			out[t.Status.Context] = fmt.Sprintf("%s %s final=%v", t.Status.State, t.Status.Description, t.Final)
		}
		return out
	}

	t.Run("at most MaxPerCluster clusters per commit, posted ones kept current", func(t *testing.T) {
		got := byContext(Desired(sub(st), s, map[string]bool{"west-2": true}))
		assert.Equal(t, map[string]string{
			"ocm-gitops/apps/web":        "failure drift on 1/4: east-1 Deployment/web .spec.replicas final=false",
			"ocm-gitops/apps/web/east-1": "failure drift: Deployment/web .spec.replicas final=false",
			"ocm-gitops/apps/web/east-2": "pending progressing: waiting for the agent to apply final=false",
			"ocm-gitops/apps/web/west-2": "success applied final=false",
		}, got)
	})

	t.Run("no new clusters once the commit has MaxPerCluster", func(t *testing.T) {
		got := byContext(Desired(sub(st), s, map[string]bool{"west-1": true, "west-2": true, "x": true}))
		assert.NotContains(t, got, "ocm-gitops/apps/web/east-1")
		assert.Contains(t, got, "ocm-gitops/apps/web/west-1")
	})

	t.Run("a posted cluster that left the placement is settled once", func(t *testing.T) {
		got := byContext(Desired(sub(st), s, map[string]bool{"east-1": true, "gone": true}))
		assert.Equal(t, "success no longer selected final=true", got["ocm-gitops/apps/web/gone"])
	})

	t.Run("truncated list ending in Applied: unlisted clusters are applied", func(t *testing.T) {
		x := st
		x.ClustersTruncated = true
		got := byContext(Desired(sub(x), s, map[string]bool{"far-away": true}))
		assert.Equal(t, "success applied final=true", got["ocm-gitops/apps/web/far-away"])
	})

	t.Run("truncated list ending otherwise: unlisted clusters are left alone", func(t *testing.T) {
		x := st
		x.ClustersTruncated = true
		x.Clusters = x.Clusters[:2]
		got := byContext(Desired(sub(x), s, map[string]bool{"far-away": true}))
		assert.NotContains(t, got, "ocm-gitops/apps/web/far-away")
	})
}

func TestClusterStatus(t *testing.T) {
	cases := []struct {
		in    appsv1.ClusterStatus
		state gitprovider.State
		desc  string
	}{
		{cluster("a", appsv1.ClusterApplied, ""), gitprovider.StateSuccess, "applied"},
		{cluster("a", appsv1.ClusterFailed, "apply failed: Deployment default/web: denied"), gitprovider.StateFailure, "apply failed: Deployment default/web: denied"},
		{cluster("a", appsv1.ClusterOffline, ""), gitprovider.StatePending, "offline: the agent has not reported recently"},
		{cluster("a", appsv1.ClusterPending, "waiting to be sent the new revision"), gitprovider.StatePending, "pending: waiting to be sent the new revision"},
		{cluster("a", appsv1.ClusterProgressing, ""), gitprovider.StatePending, "progressing: being applied"},
		{appsv1.ClusterStatus{Name: "a", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy}, gitprovider.StateSuccess, "healthy"},
		// Its content wins over other Subscriptions' for shared objects: fine, not silently.
		{appsv1.ClusterStatus{Name: "a", State: appsv1.ClusterApplied, Health: appsv1.HealthHealthy, Overrides: []string{"fleet/prod", "ops/x"}},
			gitprovider.StateSuccess, "healthy; overrides fleet/prod, ops/x"},
		{cluster("a", appsv1.ClusterDegraded, "Deployment apps/web: 0/1 ready: ImagePullBackOff"), gitprovider.StateFailure, "degraded: Deployment apps/web: 0/1 ready: ImagePullBackOff"},
		{cluster("a", appsv1.ClusterDrifted, "", drifted("Service", "web", ".spec.ports", ".spec.type")), gitprovider.StateFailure, "drift: Service/web .spec.ports,.spec.type"},
	}
	for _, tc := range cases {
		state, desc := ClusterStatus(tc.in)
		assert.Equal(t, tc.state, state, string(tc.in.State))
		assert.Equal(t, tc.desc, desc, string(tc.in.State))
	}
}

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	agg := func(state gitprovider.State, desc string) Target {
		return Target{SHA: shaA, Status: gitprovider.Status{State: state, Context: "c", Description: desc}}
	}
	rec := newRecord("cfg")

	post, wait := rec.plan([]Target{agg(gitprovider.StatePending, "rolling out: 1/40 applied")}, t0, 30*time.Second)
	require.Len(t, post, 1, "a new status is posted")
	assert.Zero(t, wait)
	rec.done(post[0], t0)

	post, wait = rec.plan([]Target{agg(gitprovider.StatePending, "rolling out: 1/40 applied")}, t0.Add(time.Second), 30*time.Second)
	assert.Empty(t, post, "an unchanged status is not posted")
	assert.Zero(t, wait)

	post, wait = rec.plan([]Target{agg(gitprovider.StatePending, "rolling out: 5/40 applied")}, t0.Add(10*time.Second), 30*time.Second)
	assert.Empty(t, post, "progress within the interval waits")
	assert.Equal(t, 20*time.Second, wait)

	post, _ = rec.plan([]Target{agg(gitprovider.StatePending, "rolling out: 9/40 applied")}, t0.Add(31*time.Second), 30*time.Second)
	require.Len(t, post, 1, "progress after the interval is posted")
	rec.done(post[0], t0.Add(31*time.Second))

	post, wait = rec.plan([]Target{agg(gitprovider.StateSuccess, "applied on 40/40")}, t0.Add(32*time.Second), 30*time.Second)
	require.Len(t, post, 1, "a state change is posted at once")
	assert.Zero(t, wait)
	rec.done(post[0], t0.Add(32*time.Second))

	other := Target{SHA: shaB, Status: gitprovider.Status{State: gitprovider.StatePending, Context: "c", Description: "rolling out: 0/40 applied"}}
	post, _ = rec.plan([]Target{other}, t0.Add(33*time.Second), 30*time.Second)
	require.Len(t, post, 1)
	assert.Len(t, rec.entries, 0, "statuses of commits no longer desired are forgotten")
}

func TestSeedAndDigest(t *testing.T) {
	targets := []Target{
		{SHA: shaA, Status: gitprovider.Status{State: gitprovider.StateSuccess, Context: "c", Description: "applied on 2/2"}},
		{SHA: shaA, Cluster: "x", Status: gitprovider.Status{State: gitprovider.StateFailure, Context: "c/x", Description: "drift"}},
		{SHA: shaA, Cluster: "gone", Final: true, Status: gitprovider.Status{State: gitprovider.StateSuccess, Context: "c/gone", Description: "no longer selected"}},
	}
	d := setDigest("cfg", targets)
	assert.Equal(t, d, setDigest("cfg", []Target{targets[1], targets[0]}), "order does not matter")
	assert.Equal(t, d, setDigest("cfg", targets[:2]), "final statuses are not part of the digest")
	assert.NotEqual(t, d, setDigest("cfg2", targets), "the forge configuration is")
	changed := append([]Target(nil), targets...)
	changed[0].Status.Description = "applied on 3/3"
	assert.NotEqual(t, d, setDigest("cfg", changed))

	rec := newRecord("cfg")
	rec.seed(targets)
	post, _ := rec.plan(targets[:2], time.Now(), time.Minute)
	assert.Empty(t, post, "seeded statuses are not posted again")
	assert.Equal(t, map[string]bool{"x": true}, rec.postedClusters(shaA))
}
