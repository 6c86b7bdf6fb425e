package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	workv1 "open-cluster-management.io/api/work/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/fleetstatus"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// traceCommand holds the flags of 'ocm-gitops trace'.
type traceCommand struct {
	fleetCommand
	cluster string
	output  string
}

func newTraceCommand() *cobra.Command {
	t := &traceCommand{}
	cmd := &cobra.Command{
		Use:   "trace KIND/NAME --cluster CLUSTER [-n NAMESPACE]",
		Short: "Show which Subscription, Channel, revision, path and values put an object on a cluster",
		Long: `Finds the object among the ManifestWorks of the cluster and shows what produced it and how
it stands: the ManifestWork, its apply, health and drift conditions; the Subscription, its
path, the Helm values and overrides for this cluster and the cluster's state; the Channel,
the revision and its commit link. It reads the hub only: what the cluster's agent reported.`,
		Example: `  ocm-gitops trace deployment/guestbook -n guestbook --cluster cluster1
  ocm-gitops trace configmap hello-config -n hello --cluster cluster2 -o yaml`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error { return t.run(cmd, args) },
	}
	fs := cmd.Flags()
	t.hub.register(fs)
	fs.StringVarP(&t.namespace, "namespace", "n", "", "namespace of the object on the cluster (default: any, when the name is unique)")
	fs.StringVar(&t.cluster, "cluster", "", "the managed cluster the object is on (required)")
	fs.StringVarP(&t.output, "output", "o", "text", "text, json or yaml")
	return cmd
}

// objectRef is what 'trace' looks for.
type objectRef struct {
	kind, name, namespace string
}

// parseObjectArgs reads KIND/NAME or KIND NAME.
func parseObjectArgs(args []string) (objectRef, error) {
	kind, name := args[0], ""
	if len(args) == 2 {
		name = args[1]
	} else if k, n, ok := strings.Cut(args[0], "/"); ok {
		kind, name = k, n
	}
	if kind == "" || name == "" || strings.Contains(name, "/") {
		return objectRef{}, usageErrorf("want KIND/NAME (e.g. deployment/web) or KIND NAME, got %q", strings.Join(args, " "))
	}
	return objectRef{kind: kind, name: name}, nil
}

// kindMatches says whether the KIND given names kind: its name, plural or
// kubectl's short name, in any case, with or without the group.
func kindMatches(given string, gvk metav1.GroupVersionKind) bool {
	g := strings.ToLower(given)
	if k, group, ok := strings.Cut(g, "."); ok {
		if group != strings.ToLower(gvk.Group) {
			return false
		}
		g = k
	}
	k := strings.ToLower(gvk.Kind)
	return g == k || g == k+"s" || g == strings.TrimSuffix(k, "y")+"ies" || g == k+"es" || shortNames[g] == k
}

// shortNames are kubectl's short names of built-in kinds.
var shortNames = map[string]string{
	"cm": "configmap", "deploy": "deployment", "svc": "service", "ns": "namespace", "sa": "serviceaccount",
	"ds": "daemonset", "sts": "statefulset", "rs": "replicaset", "cj": "cronjob", "ing": "ingress", "po": "pod",
	"pvc": "persistentvolumeclaim", "pv": "persistentvolume", "crd": "customresourcedefinition", "hpa": "horizontalpodautoscaler",
	"pdb": "poddisruptionbudget", "netpol": "networkpolicy", "sc": "storageclass", "limits": "limitrange", "quota": "resourcequota",
}

// trace is what 'trace' found, as printed with -o json or yaml.
type trace struct {
	Object       traceObject        `json:"object"`
	Work         traceWork          `json:"manifestWork"`
	Subscription *traceSubscription `json:"subscription,omitempty"`
	Channel      *traceChannel      `json:"channel,omitempty"`
}

type traceObject struct {
	Cluster    string `json:"cluster"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

type traceWork struct {
	Name     string `json:"name"`
	Revision string `json:"revision,omitempty"`
	// Conditions are the manifest's: applied, available, health, drift.
	Conditions  []metav1.Condition `json:"conditions"`
	RemovalHeld bool               `json:"removalHeld,omitempty"`
}

type traceSubscription struct {
	Namespace        string              `json:"namespace"`
	Name             string              `json:"name"`
	Path             string              `json:"path,omitempty"`
	Ref              string              `json:"ref,omitempty"`
	Chart            string              `json:"chart,omitempty"`
	PackageOverrides []*appsv1.Overrides `json:"packageOverrides,omitempty"`
	ClusterValues    map[string]any      `json:"clusterValues,omitempty"`
	// ValuesError says why clusterValuesTemplate yields nothing here.
	ValuesError string                   `json:"valuesError,omitempty"`
	Overrides   []appsv1.ClusterOverride `json:"overrides,omitempty"`
	Cell        fleetstatus.Cell         `json:"onCluster"`
	Ready       string                   `json:"ready"`
	Reason      string                   `json:"reason,omitempty"`
	Message     string                   `json:"message,omitempty"`
}

type traceChannel struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	URL       string `json:"url"`
	Revision  string `json:"revision,omitempty"`
	CommitURL string `json:"commitURL,omitempty"`
	Ready     string `json:"ready"`
	Message   string `json:"message,omitempty"`
}

func (t *traceCommand) run(cmd *cobra.Command, args []string) error {
	ref, err := parseObjectArgs(args)
	if err != nil {
		return err
	}
	ref.namespace = t.namespace
	format, err := parseOutput(t.output, "text", outputJSON, outputYAML)
	if err != nil {
		return err
	}
	if t.cluster == "" {
		return usageErrorf("--cluster is required: the managed cluster the object is on ('ocm-gitops get clusters' lists them)")
	}
	c, err := t.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	mc := &clusterv1.ManagedCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: t.cluster}, mc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("cluster %s not found; 'ocm-gitops get clusters' lists them", t.cluster)
		}
		return fmt.Errorf("get ManagedCluster %s: %w", t.cluster, err)
	}
	tr, err := findObject(ctx, c, t.cluster, ref)
	if err != nil {
		return err
	}
	if err := completeTrace(ctx, c, tr, mc); err != nil {
		return err
	}
	if format != "text" {
		return writeData(cmd.OutOrStdout(), format, tr)
	}
	return tr.write(cmd.OutOrStdout())
}

// findObject looks for the object in the cluster's ManifestWorks.
func findObject(ctx context.Context, c client.Client, cluster string, ref objectRef) (*trace, error) {
	var works workv1.ManifestWorkList
	if err := c.List(ctx, &works, client.InNamespace(cluster)); err != nil {
		return nil, fmt.Errorf("list the ManifestWorks of %s: %w", cluster, err)
	}
	var found []*trace
	for i := range works.Items {
		w := &works.Items[i]
		for _, m := range w.Spec.Workload.Manifests {
			u, err := decodeManifest(m.Raw)
			if err != nil {
				continue
			}
			gvk := u.GroupVersionKind()
			if u.GetName() != ref.name || !kindMatches(ref.kind, metav1.GroupVersionKind(gvk)) || (ref.namespace != "" && u.GetNamespace() != ref.namespace) {
				continue
			}
			found = append(found, &trace{
				Object: traceObject{Cluster: cluster, APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()},
				Work: traceWork{Name: w.Name, Revision: w.Annotations[appsv1.AnnotationRevision], Conditions: manifestConditions(w, u),
					RemovalHeld: heldRemoval(w.Annotations)},
				Subscription: &traceSubscription{Namespace: "", Name: w.Annotations[appsv1.AnnotationHostingSubscription]},
			})
		}
	}
	switch {
	case len(found) == 0:
		where := ""
		if ref.namespace != "" {
			where = " in namespace " + ref.namespace
		}
		return nil, fmt.Errorf("no ManifestWork of cluster %s holds %s %s%s; 'ocm-gitops get works --namespace %s' lists its works", cluster, ref.kind, ref.name, where, cluster)
	case len(found) > 1 && ref.namespace == "":
		var in []string
		for _, f := range found {
			in = append(in, f.Object.Namespace)
		}
		return nil, usageErrorf("%d objects %s %s on %s (namespaces %s); give -n NAMESPACE", len(found), ref.kind, ref.name, cluster, strings.Join(in, ", "))
	}
	// Two works holding one object is a conflict the agent reports on the
	// loser: show the first, which the status of both names.
	return found[0], nil
}

// manifestConditions are the conditions the agent reported for one manifest.
func manifestConditions(w *workv1.ManifestWork, u *unstructured.Unstructured) []metav1.Condition {
	gvk := u.GroupVersionKind()
	for _, m := range w.Status.ResourceStatus.Manifests {
		rm := m.ResourceMeta
		if rm.Kind == gvk.Kind && rm.Group == gvk.Group && rm.Name == u.GetName() && rm.Namespace == u.GetNamespace() {
			return m.Conditions
		}
	}
	return []metav1.Condition{}
}

// completeTrace adds the Subscription and its Channel.
func completeTrace(ctx context.Context, c client.Client, tr *trace, mc *clusterv1.ManagedCluster) error {
	hosting := tr.Subscription.Name
	ns, name, ok := strings.Cut(hosting, "/")
	if !ok {
		tr.Subscription = nil
		return nil
	}
	sub, err := getSubscription(ctx, c, types.NamespacedName{Namespace: ns, Name: name})
	if err != nil {
		return fmt.Errorf("ManifestWork %s/%s names %w", mc.Name, tr.Work.Name, err)
	}
	tr.Subscription = newTraceSubscription(sub, mc, tr.Work)
	key, err := sub.ChannelKey()
	if err != nil {
		return nil
	}
	ch := &appsv1.Channel{}
	if err := c.Get(ctx, key, ch); err != nil {
		if apierrors.IsNotFound(err) {
			tr.Channel = &traceChannel{Namespace: key.Namespace, Name: key.Name, Ready: "NotFound", Message: "the Channel does not exist"}
			return nil
		}
		return fmt.Errorf("get Channel %s: %w", key, err)
	}
	f := fleetstatus.Build([]appsv1.Channel{*ch}, nil, nil)
	tc := &traceChannel{Namespace: ch.Namespace, Name: ch.Name, Type: f.Channels[0].Type, URL: f.Channels[0].Pathname,
		Revision: tr.Subscription.Cell.Revision, Ready: f.Channels[0].Ready, Message: f.Channels[0].Message}
	if tc.Revision == "" {
		tc.Revision = tr.Work.Revision
	}
	tc.CommitURL = fleetstatus.CommitURL(ch, tc.Revision)
	tr.Channel = tc
	return nil
}

func newTraceSubscription(sub *appsv1.Subscription, mc *clusterv1.ManagedCluster, w traceWork) *traceSubscription {
	ts := &traceSubscription{
		Namespace: sub.Namespace, Name: sub.Name, Path: source.SubscriptionPath(sub), Ref: source.RefFor(sub).String(),
		Chart: sub.Spec.Package, PackageOverrides: sub.Spec.PackageOverrides, Ready: string(metav1.ConditionUnknown),
		Cell: fleetstatus.NewCells(&sub.Status).At(mc.Name, fleetstatus.WorkMeta{Exists: true, RemovalHeld: w.RemovalHeld, Revision: w.Revision}),
	}
	for _, o := range sub.Spec.Overrides {
		if o.ClusterName == mc.Name {
			ts.Overrides = append(ts.Overrides, o.ClusterOverrides...)
		}
	}
	vals, err := render.NewRenderer().ClusterValues(sub, renderCluster(mc))
	if err != nil {
		ts.ValuesError = err.Error()
	}
	ts.ClusterValues = vals
	if c := meta.FindStatusCondition(sub.Status.Conditions, appsv1.ConditionReady); c != nil {
		ts.Ready, ts.Reason, ts.Message = string(c.Status), c.Reason, c.Message
	}
	return ts
}

// write prints the trace for people, from the object up to its source.
func (tr *trace) write(w io.Writer) error {
	o := tr.Object
	p := &printer{w: w}
	p.line("Object:", fmt.Sprintf("%s %s", o.Kind, objectPath(o.Namespace, o.Name)))
	p.line("Cluster:", o.Cluster)
	p.line("API version:", o.APIVersion)
	p.section()
	p.line("ManifestWork:", o.Cluster+"/"+tr.Work.Name)
	p.line("Content from:", tr.Work.Revision)
	if tr.Work.RemovalHeld {
		p.line("Removal:", "held: the hub would remove this work and waits (see the Subscription's DeletionHeld condition)")
	}
	if len(tr.Work.Conditions) == 0 {
		p.line("Status:", "not reported by the cluster's agent yet")
	}
	for _, c := range tr.Work.Conditions {
		p.line(c.Type+":", conditionText(c))
	}
	if tr.Subscription == nil {
		p.section()
		p.line("Subscription:", "none: the work was not written by an ocm-gitops Subscription")
		return p.err
	}
	tr.Subscription.write(p)
	if ch := tr.Channel; ch != nil {
		p.section()
		p.line("Channel:", ch.Namespace+"/"+ch.Name)
		p.line("Type:", ch.Type)
		p.line("URL:", ch.URL)
		p.line("Revision:", ch.Revision)
		p.line("Commit:", ch.CommitURL)
		p.line("Ready:", strings.TrimSpace(ch.Ready+" "+ch.Message))
	}
	return p.err
}

func (s *traceSubscription) write(p *printer) {
	p.section()
	p.line("Subscription:", s.Namespace+"/"+s.Name)
	p.line("Path:", s.Path)
	p.line("Ref:", s.Ref)
	p.line("Chart:", s.Chart)
	if len(s.PackageOverrides) > 0 {
		p.yaml("Values:", s.PackageOverrides)
	}
	if len(s.ClusterValues) > 0 {
		p.yaml("Cluster values:", s.ClusterValues)
	}
	p.line("Values error:", oneLine(s.ValuesError))
	if len(s.Overrides) > 0 {
		p.yaml("Overrides:", s.Overrides)
	}
	cell := s.Cell.Label()
	if s.Cell.Message != "" {
		cell += ": " + s.Cell.Message
	}
	p.line("On this cluster:", cell)
	p.line("Revision:", s.Cell.Revision)
	ready := s.Ready
	if s.Reason != "" {
		ready += " (" + s.Reason + ")"
	}
	p.line("Ready:", strings.TrimSpace(ready+" "+s.Message))
}

func conditionText(c metav1.Condition) string {
	s := string(c.Status)
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	if c.Message != "" {
		s += " " + oneLine(c.Message)
	}
	return s
}

func objectPath(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
