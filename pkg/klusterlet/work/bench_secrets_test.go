package work_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ocm-gitops/ocm-gitops/pkg/secrets"
)

// BenchmarkApply1000Secrets is what decryption costs the agent: the works
// of BenchmarkApply1000ConfigMaps with Secrets instead, plain and
// SOPS-encrypted for the cluster's age recipient (decrypted by the agent
// just before apply), server-side applied as the hub asks, alternately in
// every iteration so both see the same load. It reports each time, their
// ratio, and the agent's CPU ratio.
//
//	go test ./pkg/klusterlet/work/ -run '^$' -bench Apply1000Secrets -benchtime 3x -timeout 30m
func BenchmarkApply1000Secrets(b *testing.B) {
	id, recipient, err := secrets.NewIdentity()
	if err != nil {
		b.Fatal(err)
	}
	keys, err := secrets.NewKeyring(id)
	if err != nil {
		b.Fatal(err)
	}
	plain := benchObjects{
		manifest: func(ns, name string, c int) string { return string(benchSecret(b, ns, name, c, "")) },
		list:     func() client.ObjectList { return &corev1.SecretList{} },
		obj:      &corev1.Secret{},
	}
	sealed := plain
	sealed.manifest = func(ns, name string, c int) string { return string(benchSecret(b, ns, name, c, recipient)) }
	sealed.open = secrets.NewOpener(keys).Open
	alternately(b, "sops", "plain",
		func(iter int) (time.Duration, map[string]float64) { return applyRun(b, iter, true, nil, sealed) },
		func(iter int) (time.Duration, map[string]float64) { return applyRun(b, iter, true, nil, plain) })
}

// benchSecret is a Secret of two values as JSON, encrypted for recipient
// unless it is "".
func benchSecret(b *testing.B, ns, name string, c int, recipient string) []byte {
	doc := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\nstringData:\n  index: %q\n  password: some-secret-value-%d\n", name, ns, fmt.Sprint(c), c)
	out := []byte(doc)
	if recipient != "" {
		var err error
		if out, err = secrets.Encrypt(out, []string{recipient}); err != nil {
			b.Fatal(err)
		}
	}
	j, err := yaml.YAMLToJSON(out)
	if err != nil {
		b.Fatal(err)
	}
	return j
}
