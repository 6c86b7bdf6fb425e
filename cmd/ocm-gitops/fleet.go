package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
	"github.com/ocm-gitops/ocm-gitops/pkg/apis/scheme"
)

// fleetCommand is what every day-2 command shares: how to reach the hub and
// the namespace of the object it names.
type fleetCommand struct {
	hub       hubFlags
	namespace string
}

func (f *fleetCommand) register(fs *pflag.FlagSet) {
	f.hub.register(fs)
	fs.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the object (default: the kubeconfig context's namespace, else \"default\"; or give NAMESPACE/NAME)")
}

// client connects to the hub.
func (f *fleetCommand) client(cmd *cobra.Command) (client.Client, error) {
	cfg, err := f.hub.config(cmd.Flags())
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("hub client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// key resolves NAME or NAMESPACE/NAME with --namespace, as kubectl would:
// the flag, else the kubeconfig context's namespace, else "default".
func (f *fleetCommand) key(cmd *cobra.Command, arg string) types.NamespacedName {
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		return types.NamespacedName{Namespace: ns, Name: name}
	}
	ns := f.namespace
	if ns == "" {
		ns = f.hub.contextNamespace(cmd.Flags())
	}
	return types.NamespacedName{Namespace: ns, Name: arg}
}

// getSubscription reads a Subscription, saying how to find the right name
// when it is not there.
func getSubscription(ctx context.Context, c client.Reader, key types.NamespacedName) (*appsv1.Subscription, error) {
	sub := &appsv1.Subscription{}
	if err := c.Get(ctx, key, sub); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Subscription %s not found; 'ocm-gitops get subscriptions' lists them (give -n NAMESPACE or NAMESPACE/NAME)", key)
		}
		return nil, fmt.Errorf("get Subscription %s: %w", key, err)
	}
	return sub, nil
}

// getChannel reads a Channel, saying how to find the right name when it is
// not there.
func getChannel(ctx context.Context, c client.Reader, key types.NamespacedName) (*appsv1.Channel, error) {
	ch := &appsv1.Channel{}
	if err := c.Get(ctx, key, ch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Channel %s not found; 'ocm-gitops get channels' lists them (give -n NAMESPACE or NAMESPACE/NAME)", key)
		}
		return nil, fmt.Errorf("get Channel %s: %w", key, err)
	}
	return ch, nil
}

// decodeManifest reads one manifest of a ManifestWork.
func decodeManifest(raw []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &u.Object); err != nil {
		return nil, fmt.Errorf("decode a manifest: %w", err)
	}
	return u, nil
}

// outputFormat is the -o of listing commands.
type outputFormat string

const (
	outputTable outputFormat = "table"
	outputWide  outputFormat = "wide"
	outputJSON  outputFormat = "json"
	outputYAML  outputFormat = "yaml"
)

// parseOutput checks -o against the formats a command offers.
func parseOutput(v string, allowed ...outputFormat) (outputFormat, error) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == v {
			return a, nil
		}
		names[i] = string(a)
	}
	return "", usageErrorf("-o %q: want %s", v, strings.Join(names, ", "))
}

// writeData prints v as indented JSON or as YAML.
func writeData(w io.Writer, format outputFormat, v any) error {
	if format == outputYAML {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns, trimming the blanks tabwriter pads the last
// cell with.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// age is how long ago t was, as kubectl shows it ("45s", "3m", "2h", "5d").
func age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// printer writes "Label:  value" lines in sections, keeping the first error.
type printer struct {
	w   io.Writer
	err error
	n   int
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// line prints one labelled value; nothing when the value is empty.
func (p *printer) line(label, value string) {
	if value == "" {
		return
	}
	p.n++
	p.printf("%-17s %s\n", label, value)
}

// section separates groups of lines.
func (p *printer) section() {
	if p.n > 0 {
		p.printf("---\n")
	}
}

// yaml prints a labelled value as indented YAML under the label.
func (p *printer) yaml(label string, v any) {
	b, err := yaml.Marshal(v)
	if err != nil {
		p.line(label, fmt.Sprintf("(%v)", err))
		return
	}
	p.n++
	p.printf("%s\n", label)
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		p.printf("  %s\n", l)
	}
}
