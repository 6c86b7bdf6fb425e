package registration

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateClusterName(t *testing.T) {
	for name, want := range map[string]string{
		"cluster1":                "",
		"local-cluster":           "",
		"prod-eu-1":               "",
		"kube-system":             "reserved",
		"kube-anything":           "reserved",
		"default":                 "reserved",
		"open-cluster-management": "reserved",
		"openshift-config":        "reserved",
		"ocm-gitops-system":       "reserved",
		"with.dots":               "not a valid namespace name",
		"UPPER":                   "not a valid namespace name",
		"":                        "not a valid namespace name",
	} {
		err := ValidateClusterName(name)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q refused: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err = %v, want %q", name, err, want)
		}
	}
}

func TestValidateNamespace(t *testing.T) {
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	if err := ValidateNamespace(other, "team-a"); err == nil || !strings.Contains(err.Error(), LabelClusterName+"=team-a") {
		t.Errorf("an unlabelled namespace was taken: %v", err)
	}
	stolen := ClusterNamespace("team-b")
	stolen.Name = "team-a"
	if err := ValidateNamespace(stolen, "team-a"); err == nil {
		t.Error("another cluster's namespace was taken")
	}
	if err := ValidateNamespace(ClusterNamespace("team-a"), "team-a"); err != nil {
		t.Errorf("the cluster's own namespace: %v", err)
	}
	if err := ValidateNamespace(nil, "team-a"); err != nil {
		t.Errorf("no namespace yet: %v", err)
	}
}
