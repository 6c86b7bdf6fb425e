package source_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
	"github.com/ocm-gitops/ocm-gitops/pkg/lab"
	. "github.com/ocm-gitops/ocm-gitops/pkg/source"
)

func TestCredentialsForReadsSecretAndConfigMap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	assets, err := lab.FindAssets("")
	if err != nil {
		t.Fatalf("control plane binaries: %v", err)
	}
	cp, err := lab.StartControlPlane(ctx, "hub", lab.RoleHub, assets)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	c, err := client.New(cp.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "git-creds"},
			Data: map[string][]byte{KeyUser: []byte("alice"), KeyAccessToken: []byte("tok-SECRET-1"), KeyCACerts: []byte("SECRETCA")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "half"},
			Data: map[string][]byte{KeyUser: []byte("alice")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ca"}, Data: map[string]string{KeyCACerts: "CMCA"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "no-ca"}, Data: map[string]string{"other": "x"}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	ch := &appsv1.Channel{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ch"},
		Spec: appsv1.ChannelSpec{Type: "Git", Pathname: "https://git.example.com/fleet.git"}}
	ch.Spec.SecretRef = &corev1.ObjectReference{Name: "git-creds"}
	ch.Spec.ConfigMapRef = &corev1.ObjectReference{Name: "ca"}
	creds, err := CredentialsFor(ctx, c, ch)
	if err != nil {
		t.Fatal(err)
	}
	if string(creds.Secret[KeyAccessToken]) != "tok-SECRET-1" || !strings.Contains(string(creds.CACerts), "SECRETCA") || !strings.Contains(string(creds.CACerts), "CMCA") {
		t.Fatalf("credentials = %+v", creds)
	}

	for _, c2 := range []struct {
		name   string
		mutate func(*appsv1.Channel)
		want   []string
	}{
		{"missing secret", func(ch *appsv1.Channel) { ch.Spec.SecretRef.Name = "nope" }, []string{"fleet/ch", "spec.secretRef", "Secret fleet/nope not found"}},
		{"other namespace", func(ch *appsv1.Channel) { ch.Spec.SecretRef.Namespace = "kube-system" }, []string{"spec.secretRef.namespace", "Channel's namespace"}},
		{"user without token", func(ch *appsv1.Channel) { ch.Spec.SecretRef.Name = "half" }, []string{"accessToken", "password"}},
		{"configmap without caCerts", func(ch *appsv1.Channel) { ch.Spec.ConfigMapRef.Name = "no-ca" }, []string{"spec.configMapRef", `"caCerts"`}},
	} {
		t.Run(c2.name, func(t *testing.T) {
			bad := ch.DeepCopy()
			c2.mutate(bad)
			_, err := CredentialsFor(ctx, c, bad)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range c2.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "tok-SECRET-1") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}
