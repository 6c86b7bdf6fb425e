package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ocm-gitops/ocm-gitops/test/harness"
	"github.com/ocm-gitops/ocm-gitops/test/harness/syncbuf"
)

// chromium finds Debian's headless Chromium; make test installs it
// (hack/browser.sh).
func chromium(t *testing.T) string {
	t.Helper()
	for _, b := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: hack/browser.sh (run by make test) installs Debian's chromium package; the dashboard's browser test needs it")
	return ""
}

// startUI runs 'ocm-gitops ui' on a free port and returns its URL.
func (e *fleetEnv) startUI(t *testing.T) string {
	t.Helper()
	out := &syncbuf.Buffer{}
	stop := harness.Run(t, "ui", func(ctx context.Context) error {
		var stderr syncbuf.Buffer
		if code := run(ctx, []string{"ui", "--addr", "127.0.0.1:0", "--hub-kubeconfig", e.kubeconfig}, out, &stderr); code != 0 {
			return fmt.Errorf("ui exited %d: %s", code, stderr.String())
		}
		return nil
	})
	t.Cleanup(stop)
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	deadline := time.Now().Add(time.Minute)
	for re.FindString(out.String()) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("ui printed no URL: %q", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return re.FindString(out.String())
}

// TestDashboard drives the dashboard in headless Chromium against a real
// hub: the matrix shows the fleet, a push shows its new revision without a
// reload, a drifted cluster shows as drifted, and the Subscription page
// says why. With -update it rewrites the README's screenshots.
func TestDashboard(t *testing.T) {
	e := newFleetEnv(t)
	exe := chromium(t)
	base := e.startUI(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1000, 420))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 10*time.Minute)
	defer cancel()

	cell := func(cluster string) string {
		return fmt.Sprintf(`tr[data-sub="fleet/hello"] td[data-cluster=%q]`, cluster)
	}
	waitJS := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(3*time.Minute))); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("#content")))
			t.Fatalf("%s: %v\npage:\n%s", what, err, html)
		}
	}
	classOf := func(cluster string) string {
		return fmt.Sprintf(`document.querySelector('%s')?.dataset.class`, cell(cluster))
	}

	// The matrix shows the fleet, both clusters healthy, and goes live.
	if err := chromedp.Do(bctx, chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(cell("east")))); err != nil {
		t.Fatal(err)
	}
	waitJS("east and west healthy", classOf("east")+` === "healthy" && `+classOf("west")+` === "healthy"`)
	waitJS("the live stream connected", `document.getElementById("live").className === "live on"`)
	// A marker that a reload would lose.
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.noReload = true`)); err != nil {
		t.Fatal(err)
	}

	// A push, the hub asked to look: the new revision appears live.
	head := e.fleet.Commit(t, "v2", map[string]string{"apps/hello/config.yaml": harness.ConfigMapYAML("hello-config", "v2")})
	e.RequestReconcile(t, "fleet", "repo")
	e.reportAll(t, "hello", nil)
	waitJS("the new revision "+head[:7], fmt.Sprintf(`window.noReload && document.querySelector('tr[data-sub="fleet/hello"] td.rev').textContent.includes(%q)`, head[:7]))

	// A drifted cluster shows as drifted, live.
	e.reportWork(t, e.Works(t, "hello")["west"], driftConfigMap)
	waitJS("west drifted", `window.noReload && `+classOf("west")+` === "drifted" && `+classOf("east")+` === "healthy"`)
	title, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(cell("west")), "title"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title.Value, "drift: ConfigMap hello-config .data.key") {
		t.Errorf("the drifted cell's title %q does not say what drifted", title.Value)
	}
	shot(t, bctx, "dashboard-matrix.png")

	// Filtering by state keeps the drifted cluster only.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"?state=drifted"), chromedp.WaitVisible(chromedp.CSS(cell("west")))); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('td.cell').length`)); err != nil || n != 1 {
		t.Errorf("state=drifted shows %d cells (%v), want west's only", n, err)
	}

	// The Subscription page: revision, the drifted cluster and why, objects.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"subscriptions/fleet/hello"), chromedp.WaitVisible(chromedp.CSS("#revision"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#content")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{head, "west", "drifted", "drift: ConfigMap apps/hello-config .data.key", "Deployment default/hello", "Conditions"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Subscription page lacks %q:\n%s", want, text)
		}
	}
	shot(t, bctx, "dashboard-subscription.png")

	for _, page := range []string{"clusters/west", "channels"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(base+page)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#content")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "fleet/hello") {
			t.Errorf("%s does not list fleet/hello:\n%s", page, text)
		}
	}
}

// shot saves the page as docs/images/NAME with -update.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*updateGolden {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "images", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
