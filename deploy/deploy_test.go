// Package deploy_test checks the Kustomize bases under deploy/: they build the
// same in process (sigs.k8s.io/kustomize/api) and with the kustomize CLI,
// grant exactly the permissions the code uses, and a real API server accepts
// them.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	"github.com/ocm-gitops/ocm-gitops/pkg/registration"
	reghub "github.com/ocm-gitops/ocm-gitops/pkg/registration/hub"
	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// targets are the folders users install.
var targets = []string{"crds", "hub", "hub/beside-ocm", "klusterlet", "klusterlet-fleet-wide", "policies"}

const (
	hubNamespace   = "ocm-gitops-system"
	hubSA          = "ocm-gitops-hub"
	agentNamespace = "ocm-gitops-agent"
	agentSA        = "ocm-gitops-klusterlet"
)

// build runs Kustomize in process on deploy/<dir>.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build deploy/%s: %v", dir, err)
	}
	data, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, dir, data)
}

// buildCLI runs bin/kustomize build on deploy/<dir>.
func buildCLI(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin, err := filepath.Abs("../bin/kustomize")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the kustomize CLI is missing at %s: build it with `make tools-cli` (hack/tools.sh cli)", bin)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bin/kustomize build deploy/%s: %v\n%s", dir, err, stderr.String())
	}
	return decode(t, dir, stdout.Bytes())
}

func decode(t *testing.T, dir string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode the build of deploy/%s: %v", dir, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func id(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

func byID(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		out[id(o)] = o
	}
	return out
}

func ids(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, id(o))
	}
	sort.Strings(out)
	return out
}

// typed converts the object with id to a typed object.
func typed[T any](t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *T {
	t.Helper()
	u := byID(objs)[fmt.Sprintf("%s %s/%s", kind, namespace, name)]
	if u == nil {
		t.Fatalf("no %s %s/%s in %v", kind, namespace, name, ids(objs))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKustomizeBuildsMatchCLI(t *testing.T) {
	for _, dir := range targets {
		t.Run(dir, func(t *testing.T) {
			in, cli := build(t, dir), buildCLI(t, dir)
			if !slices.Equal(ids(in), ids(cli)) {
				t.Fatalf("objects differ:\n  in process: %v\n  CLI:        %v", ids(in), ids(cli))
			}
			cliByID := byID(cli)
			for _, o := range in {
				if !reflect.DeepEqual(o.Object, cliByID[id(o)].Object) {
					t.Errorf("%s differs between the in-process build and the CLI", id(o))
				}
			}
		})
	}
}

func crdNames(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			out = append(out, o.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func TestEachSideGetsItsCRDs(t *testing.T) {
	ours := []string{"channels.apps.open-cluster-management.io", "placementrules.apps.open-cluster-management.io", "subscriptions.apps.open-cluster-management.io"}
	ocmHub := []string{
		"addonplacementscores.cluster.open-cluster-management.io",
		"managedclusters.cluster.open-cluster-management.io",
		"managedclustersetbindings.cluster.open-cluster-management.io",
		"managedclustersets.cluster.open-cluster-management.io",
		"manifestworks.work.open-cluster-management.io",
		"placementdecisions.cluster.open-cluster-management.io",
		"placements.cluster.open-cluster-management.io",
	}
	managed := []string{"appliedmanifestworks.work.open-cluster-management.io", "clusterclaims.cluster.open-cluster-management.io"}
	sorted := func(lists ...[]string) []string {
		out := slices.Concat(lists...)
		sort.Strings(out)
		return out
	}
	for dir, want := range map[string][]string{
		"crds":           sorted(ours, ocmHub, managed),
		"hub":            sorted(ours, ocmHub),
		"hub/beside-ocm": sorted(ours), // OCM owns its CRDs
		"klusterlet":     sorted(managed),
	} {
		if got := crdNames(build(t, dir)); !slices.Equal(got, want) {
			t.Errorf("deploy/%s CRDs = %v, want %v", dir, got, want)
		}
	}
	// Every CRD file in deploy/crds is listed in its kustomization.
	files, _ := filepath.Glob("crds/*.yaml")
	ocmFiles, _ := filepath.Glob("crds/ocm/*.yaml")
	if n := len(files) + len(ocmFiles) - 1; n != len(crdNames(build(t, "crds"))) { // minus kustomization.yaml
		t.Errorf("deploy/crds holds %d CRD files but its kustomization lists %d", n, len(crdNames(build(t, "crds"))))
	}
}

// hubArgs parses the hub container's flags.
func hubArgs(t *testing.T, d *appsv1.Deployment) map[string]string {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "hub" {
		t.Fatalf("hub container args %v do not start with the hub command", c.Args)
	}
	out := map[string]string{}
	for _, a := range c.Args[1:] {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			value = "true"
		}
		out[name] = value
	}
	return out
}

func TestHubDeployment(t *testing.T) {
	for _, dir := range []string{"hub", "hub/beside-ocm"} {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			d := typed[appsv1.Deployment](t, objs, "Deployment", hubNamespace, "ocm-gitops-hub")
			typed[corev1.ServiceAccount](t, objs, "ServiceAccount", hubNamespace, hubSA)
			typed[corev1.Namespace](t, objs, "Namespace", "", hubNamespace)
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			args := hubArgs(t, d)
			if args["leader-elect"] != "true" {
				t.Error("the hub runs without --leader-elect")
			}
			if pod.ServiceAccountName != hubSA {
				t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
			}
			if !strings.HasPrefix(c.Image, "ghcr.io/ocm-gitops/ocm-gitops:") {
				t.Errorf("image = %q", c.Image)
			}
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			for name, flag := range map[string]string{"metrics": "metrics-addr", "health": "health-addr", "webhook": "webhook-addr"} {
				if want := fmt.Sprintf(":%d", ports[name]); args[flag] != want {
					t.Errorf("--%s=%s but the %s port is %d", flag, args[flag], name, ports[name])
				}
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.String() != "health" {
				t.Errorf("liveness probe = %+v, want /healthz on the health port", c.LivenessProbe)
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.String() != "health" {
				t.Errorf("readiness probe = %+v, want /readyz on the health port", c.ReadinessProbe)
			}
			checkRestricted(t, pod)
			mounted := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounted[m.MountPath] = true
			}
			if !mounted[args["cache-dir"]] || !mounted["/tmp"] {
				t.Errorf("the cache dir %q and /tmp must be writable volumes on a read-only root file system (mounts %v)", args["cache-dir"], c.VolumeMounts)
			}
			known := map[string]bool{}
			for _, n := range hub.ControllerNames() {
				known[n] = true
			}
			if list, ok := args["controllers"]; ok {
				for _, n := range strings.Split(list, ",") {
					if !known[n] {
						t.Errorf("--controllers names %q, which the hub does not know (it knows %v)", n, hub.ControllerNames())
					}
				}
			}
			for _, svc := range []string{"ocm-gitops-hub-metrics", "ocm-gitops-webhook"} {
				s := typed[corev1.Service](t, objs, "Service", hubNamespace, svc)
				for _, p := range s.Spec.Ports {
					if _, ok := ports[p.TargetPort.String()]; !ok {
						t.Errorf("Service %s targets port %q, which the container does not name", svc, p.TargetPort.String())
					}
				}
			}
		})
	}
	if got := hubArgs(t, typed[appsv1.Deployment](t, build(t, "hub/beside-ocm"), "Deployment", hubNamespace, "ocm-gitops-hub"))["controllers"]; got != "channel,subscription,commitstatus,placementrule" {
		t.Errorf("beside an OCM hub, --controllers = %q, want channel,subscription,commitstatus,placementrule (OCM places and registers; PlacementRules were its application add-on's)", got)
	}
}

// checkRestricted: the pod meets the restricted Pod Security Standard its
// namespace enforces.
func checkRestricted(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want runAsNonRoot and the RuntimeDefault seccomp profile", pod.SecurityContext)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s security context %+v: want no privilege escalation, a read-only root and all capabilities dropped", c.Name, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s has no memory request or limit", c.Name)
		}
	}
}

func TestKlusterletDeployment(t *testing.T) {
	objs := build(t, "klusterlet")
	d := typed[appsv1.Deployment](t, objs, "Deployment", agentNamespace, "ocm-gitops-klusterlet")
	typed[corev1.ServiceAccount](t, objs, "ServiceAccount", agentNamespace, agentSA)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.ServiceAccountName != agentSA || len(c.Args) == 0 || c.Args[0] != "klusterlet" {
		t.Fatalf("klusterlet pod: serviceAccountName %q, args %v", pod.ServiceAccountName, c.Args)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || *d.Spec.Replicas != 1 {
		t.Error("two agents must never run at once: want one replica and the Recreate strategy")
	}
	checkRestricted(t, pod)
	// The generated ConfigMap's hashed name reaches the Deployment.
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil {
		t.Fatalf("envFrom = %+v", c.EnvFrom)
	}
	cm := typed[corev1.ConfigMap](t, objs, "ConfigMap", agentNamespace, c.EnvFrom[0].ConfigMapRef.Name)
	if cm.Data["OCM_GITOPS_CLUSTER_NAME"] == "" {
		t.Error("the klusterlet ConfigMap does not set OCM_GITOPS_CLUSTER_NAME")
	}
	var bootstrap string
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			bootstrap = v.Secret.SecretName
		}
	}
	if bootstrap != "ocm-gitops-bootstrap" || !slices.Contains(c.Args, "--bootstrap-kubeconfig=/var/run/ocm-gitops/bootstrap/kubeconfig") {
		t.Errorf("the bootstrap kubeconfig must come from the Secret ocm-gitops-bootstrap (volumes %+v, args %v)", pod.Volumes, c.Args)
	}
}

// perm is one (API group, resource, verb) grant, limited to the objects
// names lists (comma-separated) when it is not empty.
type perm struct{ group, resource, verb, names string }

func (p perm) String() string {
	s := p.group + "/" + p.resource + ":" + p.verb
	if p.names != "" {
		s += "[" + p.names + "]"
	}
	return s
}

func perms(group string, resources []string, verbs ...string) []perm {
	return named(group, resources, nil, verbs...)
}

// named is perms limited to the objects called names.
func named(group string, resources, names []string, verbs ...string) []perm {
	var out []perm
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, perm{group, r, v, strings.Join(names, ",")})
		}
	}
	return out
}

const (
	apps    = "apps.open-cluster-management.io"
	cluster = "cluster.open-cluster-management.io"
	work    = "work.open-cluster-management.io"
)

var read = []string{"get", "list", "watch"}

// hubNeeds is what each controller does on the hub, read from the code. A
// change there must change this table, and the manifests with it.
func hubNeeds() map[string][]perm {
	return map[string][]perm{
		// pkg/placement/controller.go: For/Watches cache Placements,
		// PlacementDecisions, ManagedClusters, sets, bindings and scores; the
		// writer creates, reads, patches and deletes PlacementDecisions and
		// writes their status and the Placement's; decisions are owned by
		// their Placement with blockOwnerDeletion.
		"ocm-gitops-hub-placement": slices.Concat(
			perms(cluster, []string{"placements"}, read...),
			perms(cluster, []string{"placements/status"}, "patch"),
			perms(cluster, []string{"placements/finalizers"}, "update"),
			perms(cluster, []string{"placementdecisions"}, "get", "list", "watch", "create", "patch", "delete"),
			perms(cluster, []string{"placementdecisions/status"}, "update", "patch"),
			perms(cluster, []string{"managedclusters", "managedclustersets", "managedclustersetbindings", "addonplacementscores"}, read...),
		),
		// pkg/placement/rule_controller.go: PlacementRules and ManagedClusters
		// cached, the rule's status patched.
		"ocm-gitops-hub-placementrule": slices.Concat(
			perms(apps, []string{"placementrules"}, read...),
			perms(apps, []string{"placementrules/status"}, "patch"),
			perms(cluster, []string{"managedclusters"}, read...),
		),
		// pkg/hub/channel.go: Channels cached, status patched; credentials
		// read by pkg/source.CredentialsFor.
		"ocm-gitops-hub-channel": slices.Concat(
			perms(apps, []string{"channels"}, read...),
			perms(apps, []string{"channels/status"}, "patch"),
			perms("", []string{"secrets", "configmaps"}, "get"),
		),
		// pkg/hub/setup.go, subscription.go, sync.go: Subscriptions cached and
		// patched (finalizer, git-current-commit), status patched; Channels,
		// ManifestWorks, PlacementDecisions, ManagedClusters cached
		// (pkg/placement.TargetsFor reads Placements too); ManifestWorks
		// created, updated, deleted, patched to orphan their objects;
		// credentials read.
		"ocm-gitops-hub-subscription": slices.Concat(
			perms(apps, []string{"subscriptions"}, "get", "list", "watch", "patch"),
			perms(apps, []string{"subscriptions/status"}, "patch"),
			perms(apps, []string{"subscriptions/finalizers"}, "update"),
			perms(apps, []string{"channels", "placementrules"}, read...),
			perms("", []string{"secrets", "configmaps"}, "get"),
			perms(work, []string{"manifestworks"}, "get", "list", "watch", "create", "update", "patch", "delete"),
			perms(cluster, []string{"managedclusters", "placements", "placementdecisions"}, read...),
			// pkg/tenancy: sets, bindings and namespaces cached.
			perms(cluster, []string{"managedclustersets", "managedclustersetbindings"}, read...),
			perms("", []string{"namespaces"}, read...),
		),
		// pkg/hub/commitstatus: Subscriptions cached and annotated, Channels
		// cached, the forge token read through the API reader.
		"ocm-gitops-hub-commitstatus": slices.Concat(
			perms(apps, []string{"subscriptions"}, "get", "list", "watch", "patch"),
			perms(apps, []string{"channels"}, read...),
			perms("", []string{"secrets"}, "get"),
		),
		// pkg/hub/webhook: Channels and Subscriptions listed by index and
		// stamped; the webhook secret read through the API reader.
		"ocm-gitops-hub-webhook": slices.Concat(
			perms(apps, []string{"channels", "subscriptions"}, "get", "list", "watch", "patch"),
			perms("", []string{"secrets"}, "get"),
		),
		// pkg/registration/hub: CSRs cached, approved or denied
		// (/approval, "approve" on the signer) and signed (/status, "sign");
		// ManagedClusters cached, patched (finalizer, acceptance, which
		// admission.yaml checks against managedclusters/accept) and their
		// status patched; Leases cached; ManagedClusterSets and bindings
		// cached, the bindings' status patched; namespaces, per-cluster
		// ClusterRoles and ClusterRoleBindings and RoleBindings read through
		// the API reader, created, updated and deleted; the shared roles
		// bound by name. update on managedclusters/status is there because
		// each cluster's own role holds it (ClusterRules in
		// registration/hub/cluster.go): RBAC lets the hub grant only what it
		// holds, and holding it is what spares it "escalate".
		"ocm-gitops-hub-registration": slices.Concat(
			perms("certificates.k8s.io", []string{"certificatesigningrequests"}, read...),
			perms("certificates.k8s.io", []string{"certificatesigningrequests/approval", "certificatesigningrequests/status"}, "update"),
			named("certificates.k8s.io", []string{"signers"}, []string{"kubernetes.io/kube-apiserver-client"}, "approve", "sign"),
			perms(cluster, []string{"managedclusters"}, "get", "list", "watch", "patch"),
			perms(cluster, []string{"managedclusters/status"}, "update", "patch"),
			perms("register.open-cluster-management.io", []string{"managedclusters/accept"}, "update"),
			perms(cluster, []string{"managedclustersets", "managedclustersetbindings"}, read...),
			perms(cluster, []string{"managedclustersetbindings/status"}, "patch"),
			perms("coordination.k8s.io", []string{"leases"}, read...),
			perms("", []string{"namespaces"}, "get", "create"),
			perms("rbac.authorization.k8s.io", []string{"clusterroles", "clusterrolebindings", "rolebindings"}, "get", "create", "update", "delete"),
			named("rbac.authorization.k8s.io", []string{"clusterroles"}, []string{reghub.WorkClusterRole, reghub.CommonClusterRole, reghub.BootstrapClusterRole}, "bind"),
		),
		// Both recorders: core/v1 (GetEventRecorderFor) and events.k8s.io
		// (GetEventRecorder) create events and patch them into series.
		"ocm-gitops-hub-events": slices.Concat(
			perms("", []string{"events"}, "create", "patch"),
			perms("events.k8s.io", []string{"events"}, "create", "patch"),
		),
	}
}

// granted expands a role's rules; wildcards and non-resource URLs fail the test.
func granted(t *testing.T, name string, rules []rbacv1.PolicyRule) []perm {
	t.Helper()
	var out []perm
	for _, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			if slices.Contains(list, "*") {
				t.Errorf("%s grants a wildcard: %+v", name, r)
			}
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("%s grants non-resource URLs: %+v", name, r)
		}
		for _, g := range r.APIGroups {
			out = append(out, named(g, r.Resources, r.ResourceNames, r.Verbs...)...)
		}
	}
	return out
}

func sameSet(a, b []perm) (missing, extra []string) {
	in := func(list []perm, p perm) bool { return slices.Contains(list, p) }
	for _, p := range a {
		if !in(b, p) {
			missing = append(missing, p.String())
		}
	}
	for _, p := range b {
		if !in(a, p) {
			extra = append(extra, p.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return slices.Compact(missing), slices.Compact(extra)
}

// TestHubRBACIsExactlyWhatTheCodeUses compares every ClusterRole of the hub
// with the table of what its controller does, both ways, and checks each is
// bound to the hub's ServiceAccount and nothing else.
func TestHubRBACIsExactlyWhatTheCodeUses(t *testing.T) {
	for dir, roles := range map[string][]string{
		"hub":            {"ocm-gitops-hub-placement", "ocm-gitops-hub-placementrule", "ocm-gitops-hub-registration", "ocm-gitops-hub-channel", "ocm-gitops-hub-subscription", "ocm-gitops-hub-commitstatus", "ocm-gitops-hub-webhook", "ocm-gitops-hub-events"},
		"hub/beside-ocm": {"ocm-gitops-hub-placementrule", "ocm-gitops-hub-channel", "ocm-gitops-hub-subscription", "ocm-gitops-hub-commitstatus", "ocm-gitops-hub-webhook", "ocm-gitops-hub-events"},
	} {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			needs := hubNeeds()
			shared := sharedRegistrationRoles(t, dir, objs)
			var have []string
			for _, o := range objs {
				switch o.GetKind() {
				case "ClusterRole":
					if !shared[o.GetName()] {
						have = append(have, o.GetName())
					}
				case "Role":
					if o.GetName() != "ocm-gitops-hub-leader-election" {
						t.Errorf("unexpected Role %s", o.GetName())
					}
				}
			}
			sort.Strings(have)
			want := slices.Clone(roles)
			sort.Strings(want)
			if !slices.Equal(have, want) {
				t.Fatalf("ClusterRoles = %v, want %v", have, want)
			}
			for _, name := range roles {
				role := typed[rbacv1.ClusterRole](t, objs, "ClusterRole", "", name)
				missing, extra := sameSet(needs[name], granted(t, name, role.Rules))
				if len(missing) > 0 {
					t.Errorf("%s lacks what the code uses: %v", name, missing)
				}
				if len(extra) > 0 {
					t.Errorf("%s grants what the code does not use: %v", name, extra)
				}
				b := typed[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", name)
				checkSubjects(t, name, b.RoleRef, b.Subjects, "ClusterRole", hubNamespace, hubSA)
			}
			le := typed[rbacv1.Role](t, objs, "Role", hubNamespace, "ocm-gitops-hub-leader-election")
			if missing, extra := sameSet(perms("coordination.k8s.io", []string{"leases"}, "get", "create", "update"), granted(t, le.Name, le.Rules)); len(missing)+len(extra) > 0 {
				t.Errorf("leader election Role: missing %v, extra %v", missing, extra)
			}
			rb := typed[rbacv1.RoleBinding](t, objs, "RoleBinding", hubNamespace, "ocm-gitops-hub-leader-election")
			checkSubjects(t, rb.Name, rb.RoleRef, rb.Subjects, "Role", hubNamespace, hubSA)
		})
	}
}

// sharedRegistrationRoles checks the ClusterRoles and ClusterRoleBindings
// the registration controller binds for every cluster (reghub.StaticRBAC,
// with the default bootstrap group): deploy/hub installs exactly them, so
// the hub never needs to write a role it does not hold; the other bases
// have none. It returns the names of those ClusterRoles.
func sharedRegistrationRoles(t *testing.T, dir string, objs []*unstructured.Unstructured) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, want := range reghub.StaticRBAC([]string{registration.DefaultBootstrapGroup}, nil) {
		kind := "ClusterRole"
		if _, ok := want.(*rbacv1.ClusterRoleBinding); ok {
			kind = "ClusterRoleBinding"
		}
		u := byID(objs)[fmt.Sprintf("%s /%s", kind, want.GetName())]
		if dir != "hub" {
			if u != nil {
				t.Errorf("deploy/%s installs %s %s, which only the standalone hub's registration uses", dir, kind, want.GetName())
			}
			continue
		}
		if u == nil {
			t.Errorf("deploy/hub lacks %s %s, which the registration controller binds for every cluster", kind, want.GetName())
			continue
		}
		switch w := want.(type) {
		case *rbacv1.ClusterRole:
			names[w.Name] = true
			have := typed[rbacv1.ClusterRole](t, objs, kind, "", w.Name)
			if !reflect.DeepEqual(have.Rules, w.Rules) {
				t.Errorf("ClusterRole %s in deploy/hub differs from what the registration controller keeps:\n  deploy: %+v\n  code:   %+v", w.Name, have.Rules, w.Rules)
			}
		case *rbacv1.ClusterRoleBinding:
			have := typed[rbacv1.ClusterRoleBinding](t, objs, kind, "", w.Name)
			if !reflect.DeepEqual(have.RoleRef, w.RoleRef) || !reflect.DeepEqual(have.Subjects, w.Subjects) {
				t.Errorf("ClusterRoleBinding %s in deploy/hub differs from what the registration controller keeps:\n  deploy: %+v %+v\n  code:   %+v %+v", w.Name, have.RoleRef, have.Subjects, w.RoleRef, w.Subjects)
			}
		}
	}
	return names
}

func checkSubjects(t *testing.T, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, kind, ns, sa string) {
	t.Helper()
	if ref.Kind != kind || ref.Name == "" {
		t.Errorf("%s refers to %s %s, want a %s", name, ref.Kind, ref.Name, kind)
	}
	if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || subjects[0].Namespace != ns || subjects[0].Name != sa {
		t.Errorf("%s binds %+v, want only ServiceAccount %s/%s", name, subjects, ns, sa)
	}
}

// klusterletNeeds is what the agent does on its managed cluster, whatever
// the works hold, read from pkg/klusterlet.
func klusterletNeeds() []perm {
	return slices.Concat(
		// work/applied.go: AppliedManifestWorks informer, create, update,
		// patch (finalizers), delete, status updates.
		perms(work, []string{"appliedmanifestworks"}, "get", "list", "watch", "create", "update", "patch", "delete"),
		perms(work, []string{"appliedmanifestworks/status"}, "update"),
		// registration/status.go: ClusterClaims informer.
		perms(cluster, []string{"clusterclaims"}, read...),
		// secrets/agent.go: the cluster's age recipients published as two
		// ClusterClaims, and no other claim changed.
		perms(cluster, []string{"clusterclaims"}, "create"),
		named(cluster, []string{"clusterclaims"}, []string{secrets.ClaimName, secrets.HeldClaimName}, "update", "delete"),
		// work/apply.go: namespaces created ahead of their objects, CRDs
		// read until established.
		perms("", []string{"namespaces"}, "create"),
		perms("apiextensions.k8s.io", []string{"customresourcedefinitions"}, "get"),
	)
}

func TestKlusterletRBAC(t *testing.T) {
	objs := build(t, "klusterlet")
	agent := typed[rbacv1.ClusterRole](t, objs, "ClusterRole", "", "ocm-gitops-klusterlet")
	if missing, extra := sameSet(klusterletNeeds(), granted(t, agent.Name, agent.Rules)); len(missing)+len(extra) > 0 {
		t.Errorf("ocm-gitops-klusterlet: missing %v, extra %v", missing, extra)
	}
	b := typed[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", "ocm-gitops-klusterlet")
	checkSubjects(t, b.Name, b.RoleRef, b.Subjects, "ClusterRole", agentNamespace, agentSA)

	// registration/store.go: the issued hub kubeconfig, in one Secret;
	// secrets/agent.go: the cluster's age identities, read (made once) and
	// watched by name (secrets/reload.go, which records Events on them).
	secret := typed[rbacv1.Role](t, objs, "Role", agentNamespace, "ocm-gitops-klusterlet")
	own := []string{"ocm-gitops-hub-kubeconfig", secrets.DefaultKeySecretName}
	for _, r := range secret.Rules {
		if (slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch")) && !slices.Equal(r.ResourceNames, []string{secrets.DefaultKeySecretName}) {
			t.Errorf("the agent may list or watch Secrets beyond its key Secret: %+v", r)
		}
		if (slices.Contains(r.Verbs, "get") || slices.Contains(r.Verbs, "update")) &&
			(len(r.ResourceNames) == 0 || slices.ContainsFunc(r.ResourceNames, func(n string) bool { return !slices.Contains(own, n) })) {
			t.Errorf("Secret reads and updates must be limited to %v: %+v", own, r)
		}
	}
	wantSecret := slices.Concat(perms("", []string{"secrets"}, "create"),
		named("", []string{"secrets"}, []string{"ocm-gitops-hub-kubeconfig"}, "get", "update"),
		named("", []string{"secrets"}, []string{secrets.DefaultKeySecretName}, "get", "list", "watch"),
		perms("", []string{"events"}, "create"))
	if missing, extra := sameSet(wantSecret, granted(t, secret.Name, secret.Rules)); len(missing)+len(extra) > 0 {
		t.Errorf("Secret Role: missing %v, extra %v", missing, extra)
	}

	// What works may hold: nothing namespaced anywhere by default (the
	// cluster's administrator binds admin and impersonation per namespace),
	// and no binding reaches kube-system or the agent's namespace; the
	// fleet-wide variant binds admin everywhere, as OCM.
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := typed[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "", o.GetName())
			if b.RoleRef.Name == "admin" || b.RoleRef.Name == "ocm-gitops-klusterlet-impersonate" {
				t.Errorf("deploy/klusterlet binds %s cluster-wide (%s): every namespace, kube-system included", b.RoleRef.Name, b.Name)
			}
		case "RoleBinding":
			if o.GetNamespace() != agentNamespace || o.GetName() != "ocm-gitops-klusterlet" {
				t.Errorf("deploy/klusterlet binds RoleBinding %s/%s", o.GetNamespace(), o.GetName())
			}
		}
	}
	imp := typed[rbacv1.ClusterRole](t, objs, "ClusterRole", "", "ocm-gitops-klusterlet-impersonate")
	if missing, extra := sameSet(perms("", []string{"serviceaccounts"}, "impersonate"), granted(t, imp.Name, imp.Rules)); len(missing)+len(extra) > 0 {
		t.Errorf("ocm-gitops-klusterlet-impersonate: missing %v, extra %v", missing, extra)
	}
	wide := build(t, "klusterlet-fleet-wide")
	admin := typed[rbacv1.ClusterRoleBinding](t, wide, "ClusterRoleBinding", "", "ocm-gitops-klusterlet-admin")
	if admin.RoleRef.Name != "admin" {
		t.Errorf("ocm-gitops-klusterlet-admin binds %s, want the built-in admin role", admin.RoleRef.Name)
	}
	checkSubjects(t, admin.Name, admin.RoleRef, admin.Subjects, "ClusterRole", agentNamespace, agentSA)
	if len(wide) != len(objs)+1 {
		t.Errorf("deploy/klusterlet-fleet-wide has %d objects, want deploy/klusterlet's %d and the admin binding", len(wide), len(objs))
	}
	agg := typed[rbacv1.ClusterRole](t, objs, "ClusterRole", "", "ocm-gitops-klusterlet-work")
	if agg.AggregationRule == nil || len(agg.AggregationRule.ClusterRoleSelectors) != 2 {
		t.Fatalf("ocm-gitops-klusterlet-work must aggregate the ocm-gitops and OCM work labels: %+v", agg.AggregationRule)
	}
	defaults := typed[rbacv1.ClusterRole](t, objs, "ClusterRole", "", "ocm-gitops-klusterlet-work-defaults")
	selected := false
	for _, s := range agg.AggregationRule.ClusterRoleSelectors {
		match := true
		for k, v := range s.MatchLabels {
			if defaults.Labels[k] != v {
				match = false
			}
		}
		selected = selected || match
	}
	if !selected {
		t.Error("the default work permissions are not aggregated into ocm-gitops-klusterlet-work")
	}
	granted(t, defaults.Name, defaults.Rules) // no wildcards
}

// TestManifestsApplyToAPIServer applies every base with server-side apply to
// a real API server: the hub bases to a cluster without OCM's hub CRDs, the
// klusterlet to one without AppliedManifestWork, so the CRDs are created by
// the apply itself.
func TestManifestsApplyToAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dirs []string
		role lab.Role
	}{
		{[]string{"hub", "hub/beside-ocm", "policies"}, lab.RoleManaged},
		{[]string{"klusterlet", "klusterlet-fleet-wide"}, lab.RoleHub},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cp, err := lab.StartControlPlane(ctx, "deploy", c.role, assets)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		cl, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range c.dirs {
			objs := build(t, dir)
			if err := apply(ctx, cl, objs); err != nil {
				t.Errorf("apply deploy/%s: %v", dir, err)
				continue
			}
			// Everything is there as built.
			for _, o := range objs {
				live := &unstructured.Unstructured{}
				live.SetGroupVersionKind(o.GroupVersionKind())
				if err := cl.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
					t.Errorf("deploy/%s: %s not found after apply: %v", dir, id(o), err)
				}
			}
		}
		cancel()
		_ = cp.Stop()
	}
}

const fieldOwner = client.FieldOwner("ocm-gitops-deploy-test")

// apply server-side applies objs: CRDs and Namespaces first, then, once the
// CRDs are established, the rest.
func apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	first := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace"
	}
	var crds []string
	for _, o := range objs {
		if first(o) {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), fieldOwner, client.ForceOwnership); err != nil {
				return fmt.Errorf("%s: %w", id(o), err)
			}
			if o.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, o.GetName())
			}
		}
	}
	for _, name := range crds {
		if err := waitEstablished(ctx, c, name); err != nil {
			return err
		}
	}
	for _, o := range objs {
		if !first(o) {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), fieldOwner, client.ForceOwnership); err != nil {
				return fmt.Errorf("%s: %w", id(o), err)
			}
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, c client.Client, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("CRD %s not established after 30s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
