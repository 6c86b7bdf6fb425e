package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	appsk8s "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestDeployedArgsParse: every flag the deploy/ Deployments pass, on the
// command line or as an OCM_GITOPS_* variable, is one the command knows.
func TestDeployedArgsParse(t *testing.T) {
	for _, dir := range []string{"hub", "hub/beside-ocm", "klusterlet"} {
		t.Run(dir, func(t *testing.T) {
			m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../deploy/"+dir)
			if err != nil {
				t.Fatal(err)
			}
			configMaps := map[string]map[string]string{}
			var deployments []*appsk8s.Deployment
			for _, r := range m.Resources() {
				obj, err := r.Map()
				if err != nil {
					t.Fatal(err)
				}
				switch r.GetKind() {
				case "ConfigMap":
					var cm corev1.ConfigMap
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &cm); err != nil {
						t.Fatal(err)
					}
					configMaps[cm.Name] = cm.Data
				case "Deployment":
					d := &appsk8s.Deployment{}
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, d); err != nil {
						t.Fatal(err)
					}
					deployments = append(deployments, d)
				}
			}
			if len(deployments) != 1 {
				t.Fatalf("%d Deployments, want 1", len(deployments))
			}
			c := deployments[0].Spec.Template.Spec.Containers[0]
			args := append([]string{}, c.Args...)
			env := map[string]string{}
			for _, from := range c.EnvFrom {
				if from.ConfigMapRef == nil || configMaps[from.ConfigMapRef.Name] == nil {
					t.Fatalf("envFrom %+v names no ConfigMap of the base", from)
				}
				for k, v := range configMaps[from.ConfigMapRef.Name] {
					env[k] = v
				}
			}
			for _, e := range c.Env {
				env[e.Name] = strings.ReplaceAll(e.Value, "$(POD_NAMESPACE)", deployments[0].Namespace)
			}
			for k, v := range env {
				if name, ok := strings.CutPrefix(k, "OCM_GITOPS_"); ok {
					args = append(args, "--"+strings.ToLower(strings.ReplaceAll(name, "_", "-"))+"="+v)
				}
			}
			var stderr bytes.Buffer
			if code := run(context.Background(), append(args, "-h"), &bytes.Buffer{}, &stderr); code != 0 {
				t.Errorf("ocm-gitops %s: exit %d: %s", strings.Join(args, " "), code, firstLine(stderr.String()))
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
