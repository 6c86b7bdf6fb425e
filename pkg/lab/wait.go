package lab

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// pollInterval is how often the lab's start-up waits look again: they watch
// a handful of objects on a local API server for seconds.
const pollInterval = 100 * time.Millisecond

// bootstrapAccess is what joining needs of the bootstrap identity: reading
// and creating its ManagedCluster and requesting a certificate.
var bootstrapAccess = []authorizationv1.ResourceAttributes{
	{Group: clusterv1.GroupName, Resource: "managedclusters", Verb: "get"},
	{Group: clusterv1.GroupName, Resource: "managedclusters", Verb: "create"},
	{Group: certificatesv1.GroupName, Resource: "certificatesigningrequests", Verb: "create"},
}

// agentAccess is what a joined agent needs in its cluster's namespace on the
// hub: its Lease and its ManifestWorks.
func agentAccess(cluster string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Namespace: cluster, Group: coordinationv1.GroupName, Resource: "leases", Verb: "get"},
		{Namespace: cluster, Group: coordinationv1.GroupName, Resource: "leases", Verb: "create"},
		{Namespace: cluster, Group: workv1.GroupName, Resource: "manifestworks", Verb: "watch"},
		{Namespace: cluster, Group: workv1.GroupName, Resource: "manifestworks/status", Verb: "patch"},
		{Group: clusterv1.GroupName, Resource: "managedclusters", Name: cluster, Verb: "get"},
	}
}

// accessCheck asks the API server whether a subject may do something.
type accessCheck func(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, error)

// subjectAccess checks user in groups, through an administrator's client.
func subjectAccess(kube kubernetes.Interface, user string, groups ...string) accessCheck {
	return func(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, error) {
		r, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Allowed, nil
	}
}

// waitAuthorized waits until check allows everything in want; who names the
// subject in the error.
func waitAuthorized(parent context.Context, who string, check accessCheck, want []authorizationv1.ResourceAttributes, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		missing := ""
		for _, attrs := range want {
			ok, err := check(ctx, attrs)
			if err != nil {
				missing = fmt.Sprintf("%s %s: %v", attrs.Verb, attrs.Resource, err)
				break
			}
			if !ok {
				missing = fmt.Sprintf("%s %s", attrs.Verb, attrs.Resource)
				if attrs.Namespace != "" {
					missing += " in namespace " + attrs.Namespace
				}
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			return fmt.Errorf("the hub did not grant %s its access within %s (still denied: %s); see the hub's log", who, timeout, missing)
		case <-time.After(pollInterval):
		}
	}
}

// waitJoined waits until every cluster has joined the hub and is available,
// writing a line to progress as each one does.
func (l *Lab) waitJoined(parent context.Context, timeout time.Duration, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	pending := map[string]bool{}
	for _, n := range l.clusterNames() {
		pending[n] = true
	}
	for {
		var list clusterv1.ManagedClusterList
		if err := l.hubClient.List(ctx, &list); err == nil {
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			for i := range list.Items {
				mc := &list.Items[i]
				if !pending[mc.Name] || !meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionJoined) ||
					!meta.IsStatusConditionTrue(mc.Status.Conditions, clusterv1.ManagedClusterConditionAvailable) {
					continue
				}
				delete(pending, mc.Name)
				if mc.Name == LocalClusterName {
					fmt.Fprintf(progress, "%s joined (the hub, managing itself)\n", mc.Name)
				} else {
					fmt.Fprintf(progress, "%s joined (region=%s, env=%s)\n", mc.Name, mc.Labels["region"], mc.Labels["env"])
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			return fmt.Errorf("clusters %s did not join the hub within %s; see the agents' log", strings.Join(slices.Sorted(maps.Keys(pending)), ", "), timeout)
		case <-time.After(pollInterval):
		}
	}
}

// WaitReconciled waits until the fleet is in place: some Subscription exists,
// the local ones (which put the others on the hub) are Ready, and then every
// Subscription is Ready for its current generation. report, when not nil, is
// called whenever the number of ready Subscriptions changes. On timeout the
// error names the Subscriptions that are not ready and why.
func (l *Lab) WaitReconciled(parent context.Context, timeout time.Duration, report func(ready, total int)) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	lastReady, lastTotal := -1, -1
	var notReady []string
	for {
		var list appsv1.SubscriptionList
		if err := l.hubClient.List(ctx, &list); err == nil {
			ready, localReady, locals := 0, 0, 0
			notReady = notReady[:0]
			for i := range list.Items {
				s := &list.Items[i]
				ok, why := subscriptionReady(s)
				if ok {
					ready++
				} else {
					notReady = append(notReady, fmt.Sprintf("%s/%s (%s)", s.Namespace, s.Name, why))
				}
				if p := s.Spec.Placement; p != nil && p.Local != nil && *p.Local {
					locals++
					if ok {
						localReady++
					}
				}
			}
			total := len(list.Items)
			if report != nil && (ready != lastReady || total != lastTotal) {
				report(ready, total)
			}
			lastReady, lastTotal = ready, total
			if total > 0 && ready == total && localReady == locals {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			if lastTotal <= 0 {
				return fmt.Errorf("no Subscription on the hub after %s: apply some (the lab applies channels/ and subscriptions/ with --example)", timeout)
			}
			sort.Strings(notReady)
			return fmt.Errorf("%d/%d Subscriptions ready after %s; not ready: %s", lastReady, lastTotal, timeout, strings.Join(notReady, "; "))
		case <-time.After(4 * pollInterval):
		}
	}
}

// subscriptionReady reports whether the hub has reconciled the Subscription's
// current generation and found it Ready, or placed nowhere (a small lab has
// no cluster for some Placements), else why not.
func subscriptionReady(s *appsv1.Subscription) (bool, string) {
	c := meta.FindStatusCondition(s.Status.Conditions, appsv1.ConditionReady)
	switch {
	case c == nil || s.Status.ObservedGeneration < s.Generation:
		return false, "not reconciled yet"
	case c.Status == metav1.ConditionTrue || c.Reason == appsv1.ReasonNoClusters:
		return true, ""
	}
	return false, c.Reason + ": " + c.Message
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
