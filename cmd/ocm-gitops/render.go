package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/render"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
	"github.com/ocm-gitops/ocm-gitops/pkg/source"
)

// newRenderCommand prints what one cluster would receive: the hub's renderer
// run on a local folder, so the output is byte for byte what the hub sends.
func newRenderCommand() *cobra.Command {
	var r renderFlags
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print what a cluster would receive from a fleet repo",
		Long:  "Prints, as YAML documents, the objects the hub would send to the cluster.",
		Example: `  ocm-gitops render --dir ./fleet --path apps/hello
  ocm-gitops render --dir ./fleet --subscription sub.yaml --cluster cluster1 --labels region=east,env=dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return r.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&r.dir, "dir", "", "local folder holding the fleet repository (required)")
	fs.StringVar(&r.path, "path", "", "folder inside --dir to render (the Subscription's git-path); overrides the one in --subscription")
	fs.StringVar(&r.cluster, "cluster", "", "name of the cluster to render for (selects spec.overrides and feeds spec.clusterValuesTemplate)")
	fs.StringVar(&r.labels, "labels", "", "the cluster's labels, as k=v,k2=v2")
	fs.StringVar(&r.claims, "claims", "", "the cluster's ClusterClaims, as k=v,k2=v2")
	fs.StringVar(&r.values, "values", "", "YAML file of Helm values merged over everything the Subscription gives")
	fs.StringVar(&r.subFile, "subscription", "", "Subscription YAML to take path, packageOverrides, overrides, clusterValuesTemplate, allow and deny from")
	return cmd
}

// renderFlags are the flags of 'ocm-gitops render'.
type renderFlags struct {
	dir, path, cluster, labels, claims, values, subFile string
}

func (r *renderFlags) run(ctx context.Context, stdout, stderr io.Writer) error {
	if r.dir == "" {
		return usageErrorf("--dir is required: the folder holding the fleet repository")
	}
	abs, err := filepath.Abs(r.dir)
	if err != nil {
		return usageErrorf("--dir %q: %v", r.dir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return usageErrorf("--dir %q is not a folder", r.dir)
	}
	c := render.Cluster{Name: r.cluster}
	if c.Labels, err = parsePairs(r.labels); err != nil {
		return usageErrorf("--labels: %v", err)
	}
	if c.Claims, err = parsePairs(r.claims); err != nil {
		return usageErrorf("--claims: %v", err)
	}
	if r.values != "" {
		data, err := os.ReadFile(r.values)
		if err != nil {
			return usageErrorf("--values: %v", err)
		}
		if err := yaml.Unmarshal(data, &c.Values); err != nil {
			return usageErrorf("--values %s: not a YAML mapping of Helm values: %v", r.values, err)
		}
	}
	sub, err := renderSubscription(r.subFile, r.path, abs)
	if err != nil {
		return err
	}
	art := &source.Artifact{Revision: "local", Dir: abs}
	out, err := render.NewRenderer().Render(ctx, art, sub, c)
	if err != nil {
		return err
	}
	warnUndecryptable(stderr, out.Objects, c)
	data, err := encodeYAMLStream(out)
	if err != nil {
		return err
	}
	_, err = stdout.Write(data)
	return err
}

// warnUndecryptable names the SOPS-encrypted objects (printed as they are,
// never decrypted) that the cluster, by the age recipients in --claims,
// holds no key for.
func warnUndecryptable(stderr io.Writer, objs []*unstructured.Unstructured, c render.Cluster) {
	if c.Claims[secrets.ClaimName] == "" && c.Claims[secrets.HeldClaimName] == "" {
		return
	}
	mc := &clusterv1.ManagedCluster{}
	mc.Name = c.Name
	for name, value := range c.Claims {
		mc.Status.ClusterClaims = append(mc.Status.ClusterClaims, clusterv1.ManagedClusterClaim{Name: name, Value: value})
	}
	for _, o := range objs {
		if len(secrets.Undecryptable(o.Object, []*clusterv1.ManagedCluster{mc})) > 0 {
			what := o.GetKind() + " " + strings.TrimPrefix(o.GetNamespace()+"/"+o.GetName(), "/")
			fmt.Fprintf(stderr, "warning: %s\n", secrets.MissingRecipientMessage(what, o.Object))
		}
	}
}

// renderSubscription reads --subscription, or makes a Subscription in the
// default namespace named after the path.
func renderSubscription(file, path, dir string) (*appsv1.Subscription, error) {
	sub := &appsv1.Subscription{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErrorf("--subscription: %v", err)
		}
		objs, err := render.DecodeYAML(data)
		if err != nil {
			return nil, usageErrorf("--subscription %s: %v", file, err)
		}
		var found []string
		for _, o := range objs {
			if o.GetKind() == "Subscription" && o.GroupVersionKind().Group == appsv1.GroupVersion.Group {
				found = append(found, o.GetName())
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, sub); err != nil {
					return nil, usageErrorf("--subscription %s: Subscription %s: %v", file, o.GetName(), err)
				}
			}
		}
		if len(found) != 1 {
			return nil, usageErrorf("--subscription %s holds %d Subscriptions %v; give a file with exactly one", file, len(found), found)
		}
	}
	if sub.Namespace == "" {
		sub.Namespace = "default"
	}
	if sub.Name == "" {
		base := path
		if base == "" {
			base = dir
		}
		sub.Name = dnsLabel(filepath.Base(filepath.Clean(base)))
	}
	if path != "" {
		if sub.Annotations == nil {
			sub.Annotations = map[string]string{}
		}
		sub.Annotations[appsv1.AnnotationGitPath] = path
		delete(sub.Annotations, appsv1.AnnotationGithubPath)
	}
	return sub, nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

func dnsLabel(s string) string {
	s = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 53 {
		s = strings.TrimRight(s[:53], "-")
	}
	if s == "" {
		return "render"
	}
	return s
}

// parsePairs reads "k=v,k2=v2".
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// encodeYAMLStream writes objects as YAML documents separated by "---", keys
// sorted, so equal renders print identically.
func encodeYAMLStream(out *render.Output) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range out.Objects {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
