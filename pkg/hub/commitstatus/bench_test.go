package commitstatus

import (
	"fmt"
	"testing"
	"time"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// benchSub is a Subscription over 1000 clusters with the status the
// subscription controller writes: the worst 100 listed, a few drifted.
func benchSub() *appsv1.Subscription {
	st := appsv1.SubscriptionStatus{
		Summary:           appsv1.ClusterSummary{Selected: 1000, Applied: 990, Drifted: 4, Progressing: 6},
		ClustersTruncated: true,
	}
	for i := 0; i < 100; i++ {
		state := appsv1.ClusterApplied
		switch {
		case i < 4:
			state = appsv1.ClusterDrifted
		case i < 10:
			state = appsv1.ClusterProgressing
		}
		st.Clusters = append(st.Clusters, cluster(fmt.Sprintf("cluster-%04d", i), state, "", drifted("Deployment", "web", ".spec.replicas")))
	}
	return sub(st)
}

// BenchmarkReconcileDecision is the work of a reconcile that posts nothing:
// compute the desired statuses and find them already posted.
func BenchmarkReconcileDecision(b *testing.B) {
	for _, perCluster := range []bool{false, true} {
		b.Run(fmt.Sprintf("perCluster=%v", perCluster), func(b *testing.B) {
			s := Settings{PerCluster: perCluster, MaxPerCluster: DefaultMaxPerCluster, TargetURL: "https://hub.example.com"}
			x := benchSub()
			rec := newRecord("cfg")
			rec.seed(Desired(x, s, nil))
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := Desired(x, s, rec.postedClusters(shaA))
				if post, _ := rec.plan(d, now, time.Minute); len(post) != 0 {
					b.Fatalf("%d statuses to post", len(post))
				}
				_ = setDigest("cfg", d)
			}
		})
	}
}
