package faults_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	clusterv1alpha1 "open-cluster-management.io/api/cluster/v1alpha1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/poll"
)

// workSnapshot is what identifies a written ManifestWork: a rewrite changes
// its generation, a delete-and-create its UID.
type workSnapshot struct {
	uid        string
	generation int64
	hash       string
}

func snapshot(ws map[string]*workv1.ManifestWork) map[string]workSnapshot {
	out := map[string]workSnapshot{}
	for ns, w := range ws {
		out[ns] = workSnapshot{uid: string(w.UID), generation: w.Generation, hash: w.Annotations[appsv1.AnnotationContentHash]}
	}
	return out
}

// onHash lists the clusters whose work carries hash, sorted.
func onHash(ws map[string]*workv1.ManifestWork, hash string) []string {
	var out []string
	for ns, w := range ws {
		if w.Annotations[appsv1.AnnotationContentHash] == hash {
			out = append(out, ns)
		}
	}
	sort.Strings(out)
	return out
}

// TestHubKilledMidRolloutResumes stops the hub's controllers in the middle
// of a progressive rollout (one cluster at a time) and starts new ones with
// an empty cache, as a restarted pod would. The new hub writes no work that
// is already right, creates no second work, deletes none, and goes on with
// the rollout from where the status says it was: the next cluster, not the
// first one again.
func TestHubKilledMidRolloutResumes(t *testing.T) {
	clusters := []string{"c1", "c2", "c3", "c4"}
	e := harness.NewHub(t, clusters...)
	repo := harness.NewFleet(t, map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "one")})
	e.Create(t, &appsv1.Channel{ObjectMeta: harness.Meta("fleet", "repo"), Spec: appsv1.ChannelSpec{Type: "Git", Pathname: repo.URL}},
		harness.GitSubscription("app", "repo", clusters...))

	stop := harness.RunHub(t, e.CP.Config, nil)
	// The first revision everywhere, reported applied.
	poll.Eventually(t, 30*time.Second, "revision one on every cluster", func() error {
		ws := e.Works(t, "app")
		if len(ws) != len(clusters) {
			return fmt.Errorf("works on %d clusters", len(ws))
		}
		return nil
	})
	for _, w := range e.Works(t, "app") {
		e.Report(t, w)
	}
	oldHash := e.Works(t, "app")["c1"].Annotations[appsv1.AnnotationContentHash]

	// Revision two rolls out one cluster at a time.
	sub := e.Subscription(t, "app")
	patch := client.MergeFrom(sub.DeepCopy())
	sub.Spec.RolloutStrategy = &clusterv1alpha1.RolloutStrategy{Type: clusterv1alpha1.Progressive, Progressive: &clusterv1alpha1.RolloutProgressive{
		RolloutConfig: clusterv1alpha1.RolloutConfig{ProgressDeadline: "None"}, MaxConcurrency: intstr.FromInt32(1),
	}}
	if err := e.C.Patch(e.Ctx, sub, patch); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, "two", map[string]string{"apps/app/cm.yaml": harness.ConfigMapYAML("app", "two")})
	e.RequestReconcile(t, "fleet", "repo")

	var newHash string
	var first, second string
	poll.Eventually(t, 30*time.Second, "the first cluster gets revision two", func() error {
		for ns, w := range e.Works(t, "app") {
			if h := w.Annotations[appsv1.AnnotationContentHash]; h != oldHash {
				newHash, first = h, ns
			}
		}
		if first == "" {
			return fmt.Errorf("no cluster has a new work yet")
		}
		return nil
	})
	e.Report(t, e.Works(t, "app")[first])
	poll.Eventually(t, 30*time.Second, "the second cluster gets revision two", func() error {
		got := onHash(e.Works(t, "app"), newHash)
		if len(got) != 2 {
			return fmt.Errorf("revision two on %v", got)
		}
		second = got[0]
		if second == first {
			second = got[1]
		}
		return nil
	})
	var before *appsv1.RolloutStatus
	poll.Eventually(t, 20*time.Second, "status shows two of four updated", func() error {
		s := e.Subscription(t, "app")
		if r := s.Status.Rollout; r == nil || r.Updated != 2 || r.Succeeded != 1 || r.Phase != appsv1.RolloutProgressing {
			return fmt.Errorf("rollout %+v", r)
		}
		before = s.Status.Rollout.DeepCopy()
		return nil
	})

	// Kill the hub; the second cluster's agent finishes meanwhile.
	stop()
	e.Report(t, e.Works(t, "app")[second])
	snap := snapshot(e.Works(t, "app"))

	// A new hub, with no cache and a write counter.
	var writes harness.WriteCounter
	harness.RunHub(t, writes.Wrap(e.CP.Config), nil)
	var third string
	poll.Eventually(t, 45*time.Second, "the rollout resumes with a third cluster", func() error {
		got := onHash(e.Works(t, "app"), newHash)
		if len(got) != 3 {
			return fmt.Errorf("revision two on %v", got)
		}
		for _, c := range got {
			if c != first && c != second {
				third = c
			}
		}
		return nil
	})
	poll.Eventually(t, 20*time.Second, "status shows three of four updated", func() error {
		s := e.Subscription(t, "app")
		r := s.Status.Rollout
		if r == nil || r.Updated != 3 || r.Succeeded != 2 || r.Revision != before.Revision {
			return fmt.Errorf("rollout %+v", r)
		}
		if !r.StartedAt.Equal(before.StartedAt) {
			return fmt.Errorf("the rollout restarted: started %v, before the kill %v", r.StartedAt, before.StartedAt)
		}
		return nil
	})
	after := snapshot(e.Works(t, "app"))
	if len(after) != len(clusters) {
		t.Fatalf("works on %d clusters after the restart, want %d", len(after), len(clusters))
	}
	for _, c := range clusters {
		a, b := snap[c], after[c]
		if a.uid != b.uid {
			t.Errorf("the work of %s was deleted and created again", c)
		}
		if c != third && a.generation != b.generation {
			t.Errorf("the restarted hub rewrote the work of %s (generation %d -> %d)", c, a.generation, b.generation)
		}
	}
	if got := writes.Get("PATCH manifestworks") + writes.Get("POST manifestworks") + writes.Get("PUT manifestworks"); got != 1 {
		t.Errorf("the restarted hub wrote %d ManifestWorks, want 1 (the third cluster's): %s", got, &writes)
	}
	if got := writes.Get("DELETE manifestworks"); got != 0 {
		t.Errorf("the restarted hub deleted %d ManifestWorks", got)
	}
	last := ""
	for _, c := range clusters {
		if !slices.Contains([]string{first, second, third}, c) {
			last = c
		}
	}
	if after[last].hash != oldHash {
		t.Errorf("the fourth cluster %s skipped its turn", last)
	}

	// The rollout completes.
	e.Report(t, e.Works(t, "app")[third])
	poll.Eventually(t, 30*time.Second, "the last cluster gets revision two", func() error {
		if got := onHash(e.Works(t, "app"), newHash); len(got) != 4 {
			return fmt.Errorf("revision two on %v", got)
		}
		return nil
	})
	e.Report(t, e.Works(t, "app")[last])
	poll.Eventually(t, 20*time.Second, "rollout succeeded", func() error {
		s := e.Subscription(t, "app")
		if r := s.Status.Rollout; r == nil || r.Phase != appsv1.RolloutSucceeded || r.Succeeded != 4 {
			return fmt.Errorf("rollout %+v", r)
		}
		return nil
	})
}
