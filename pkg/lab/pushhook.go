package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// pushNotifier sends the hub's webhook receiver a GitHub-style push event for
// every push to the lab's Git server, as a forge would.
type pushNotifier struct {
	webhookURL string
	repoURL    func(repo string) string
	client     *http.Client
	log        logr.Logger
}

func (n *pushNotifier) notify(repo string, refs []string) {
	for _, ref := range refs {
		body, _ := json.Marshal(map[string]any{
			"ref": ref,
			"repository": map[string]string{
				"clone_url": n.repoURL(repo), "default_branch": "main",
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.webhookURL, bytes.NewReader(body))
		if err != nil {
			cancel()
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		resp, err := n.client.Do(req)
		cancel()
		if err != nil {
			n.log.Error(err, "send push webhook", "ref", ref)
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 300 {
			n.log.Info("push webhook refused", "ref", ref, "status", resp.Status)
		}
	}
}

// freeLoopbackAddr picks a free port on 127.0.0.1 for a server started later.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
