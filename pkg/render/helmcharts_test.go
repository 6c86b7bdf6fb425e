package render

import (
	"path/filepath"
	"strings"
	"testing"
)

// shopChart is a chart with a CRD, a hook, a test hook and a template that
// asks the Capabilities for an API version.
var shopChart = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: shop\nversion: 1.2.0\n",
	"values.yaml": "replicas: 1\ngreeting: hi\nzones: [a, b]\nextra:\n  x: 1\n  y: 2\n",
	"crds/widget.yaml": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.shop.example.com\n" +
		"spec:\n  group: shop.example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object}}\n",
	"templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-shop\n  namespace: {{ .Release.Namespace }}\nspec:\n  replicas: {{ .Values.replicas }}\n" +
		"  selector: {matchLabels: {app: shop}}\n  template:\n    metadata: {labels: {app: shop}}\n    spec:\n      containers:\n      - name: shop\n        image: shop:1.2.0\n",
	"templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-shop\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  zones: {{ join \",\" .Values.zones | quote }}\n  extra: {{ toJson .Values.extra | quote }}\n",
	"templates/hook.yaml":    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations: {\"helm.sh/hook\": pre-install}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: shop:1.2.0}]\n",
	"templates/test.yaml":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations: {\"helm.sh/hook\": test}\nspec:\n  containers: [{name: t, image: busybox}]\n",
	"templates/monitor.yaml": "{{ if .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" }}apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: {{ .Release.Name }}-shop\nspec: {}\n{{ end }}",
}

func withChart(files map[string]string, dir string) map[string]string {
	for k, v := range shopChart {
		files[dir+"/"+k] = v
	}
	return files
}

// TestGoldenKustomizeHelmCharts is issue 17 item 13: helmCharts inflate
// in-process and build what `kustomize build --enable-helm` builds with the
// helm CLI. (Subtest names have no commas: the helm CLI splits -f paths at
// commas.)
func TestGoldenKustomizeHelmCharts(t *testing.T) {
	kustomize, helm := tool(t, "kustomize"), tool(t, "helm")
	repo := newChartRepo(t, extrasChart("1.0.0"), extrasChart("1.1.0"))
	cases := []struct {
		name  string
		files map[string]string
		must  []string
	}{
		{"vendored with inline values over the chart's and transformed", withChart(map[string]string{
			"k/kustomization.yaml": "namespace: shop-ns\nnamePrefix: k-\ncommonLabels: {team: a}\nresources: [extra.yaml]\n" +
				"helmCharts:\n- name: shop\n  releaseName: web\n  namespace: shop-ns\n  includeCRDs: true\n  valuesInline: {replicas: 3, greeting: hello, extra: {y: 3}}\n",
			"k/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
		}, "k/charts/shop"), []string{"CustomResourceDefinition /widgets.shop.example.com", "Deployment shop-ns/k-web-shop", "Job apps/k-web-migrate", "Pod apps/k-web-test", "ConfigMap shop-ns/k-extra"}},
		{"values file merged with more values files and API versions from a chart home", withChart(map[string]string{
			"k/kustomization.yaml": "helmGlobals: {chartHome: vendor}\nhelmCharts:\n- name: shop\n  releaseName: web\n  namespace: other\n  valuesFile: my-values.yaml\n" +
				"  valuesInline: {greeting: inline, extra: {z: 9}}\n  valuesMerge: merge\n  additionalValuesFiles: [more.yaml]\n  skipTests: true\n  apiVersions: [monitoring.coreos.com/v1]\n",
			"k/my-values.yaml": "greeting: from-file\nzones: [c]\nreplicas: 2\n",
			"k/more.yaml":      "replicas: 5\n",
		}, "k/vendor/shop"), []string{"ServiceMonitor apps/web-shop", "Deployment other/web-shop", "Job apps/web-migrate"}},
		{"no hooks and replaced values", withChart(map[string]string{
			"k/kustomization.yaml": "helmCharts:\n- name: shop\n  releaseName: web\n  skipHooks: true\n  valuesInline: {replicas: 4, greeting: only, zones: [q]}\n  valuesMerge: replace\n",
		}, "k/charts/shop"), []string{"Deployment default/web-shop"}},
		{"pulled from a chart repository", map[string]string{
			"k/kustomization.yaml": "namespace: pulled\nhelmCharts:\n- name: extras\n  repo: " + repo.URL + "\n  version: 1.1.0\n  releaseName: ex\n  valuesInline: {greeting: salut}\n",
		}, []string{"ConfigMap apps/ex-extras"}}, // helm-generated: kustomize's namespace leaves it alone
	}
	r := NewRenderer(local(Options{CacheDir: t.TempDir()}))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, c.files)
			sub := subscription("shop", "apps", "k")
			got := mustRender(t, r, art, sub, Cluster{Name: "c1"})
			work := t.TempDir()
			copyDir(t, art.Dir, work)
			want := normalizeCLI(t, run(t, helmEnv(t), kustomize, "build", "--enable-helm", "--helm-command", helm,
				"--helm-kube-version", DefaultKubeVersion, filepath.Join(work, "k")), sub.Namespace)
			sameObjects(t, got.Objects, want)
			have := strings.Join(names(got.Objects), "\n")
			for _, m := range c.must {
				if !strings.Contains(have, m) {
					t.Errorf("render lacks %q; has:\n%s", m, have)
				}
			}
		})
	}
}

// TestKustomizeHelmChartsConfined: a helmCharts entry's files stay inside
// the artifact and a chart neither vendored nor given a repo says what to do.
func TestKustomizeHelmChartsConfined(t *testing.T) {
	for _, c := range []struct {
		name, kustomization, message string
	}{
		{"values file outside", "helmCharts:\n- name: shop\n  valuesFile: ../../../../../etc/passwd\n", "helmCharts[0].valuesFile"},
		{"more values outside", "helmCharts:\n- name: shop\n  additionalValuesFiles: [../../../../../etc/passwd]\n", "helmCharts[0].additionalValuesFiles[0]"},
		{"remote values", "helmCharts:\n- name: shop\n  valuesFile: https://example.com/values.yaml\n", "is remote"},
		{"absolute chart home", "helmGlobals: {chartHome: /etc}\nhelmCharts:\n- name: shop\n", "must be a path inside the repository"},
		{"chart name with a path", "helmCharts:\n- name: ../shop\n", "not a chart name"},
		{"missing chart", "helmCharts:\n- name: gone\n", "the chart is not at k/charts/gone and no repo is given; vendor it there"},
		{"old generator", "helmChartInflationGenerator:\n- chartName: shop\n", "list the charts under helmCharts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			art := tempArtifact(t, withChart(map[string]string{"k/kustomization.yaml": c.kustomization}, "k/charts/shop"))
			re := renderErr(t, NewRenderer(), art, subscription("shop", "apps", "k"), Cluster{Name: "c1"})
			if re.File != "k/kustomization.yaml" || !strings.Contains(re.Error(), c.message) {
				t.Errorf("error %v (file %q), want %q in k/kustomization.yaml", re, re.File, c.message)
			}
		})
	}
}
