package egress

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAllowed(t *testing.T) {
	lab := Allow(Loopback()...)
	corp := Allow(netip.MustParsePrefix("10.20.0.0/16"))
	cases := []struct {
		addr        string
		public, lab bool
		corp        bool
	}{
		{"8.8.8.8", true, true, true},
		{"2606:4700:4700::1111", true, true, true},
		{"127.0.0.1", false, true, false},
		{"127.8.9.10", false, true, false},
		{"::1", false, true, false},
		{"::ffff:127.0.0.1", false, true, false}, // IPv4-mapped
		{"169.254.169.254", false, false, false}, // cloud metadata
		{"fe80::1", false, false, false},
		{"fd00:ec2::254", false, false, false}, // AWS metadata over IPv6 (unique local)
		{"10.0.0.1", false, false, false},
		{"10.20.3.4", false, false, true},
		{"172.16.0.1", false, false, false},
		{"192.168.1.1", false, false, false},
		{"100.100.100.200", false, false, false}, // CGNAT: Alibaba's metadata
		{"0.0.0.0", false, false, false},
		{"::", false, false, false},
		{"224.0.0.1", false, false, false},
		{"255.255.255.255", false, false, false},
		{"64:ff9b::a9fe:a9fe", false, false, false}, // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true, true, true},      // NAT64 of 8.8.8.8
	}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		if got := (*Policy)(nil).Allowed(a); got != c.public {
			t.Errorf("default policy: Allowed(%s) = %v, want %v", c.addr, got, c.public)
		}
		if got := lab.Allowed(a); got != c.lab {
			t.Errorf("loopback allowed: Allowed(%s) = %v, want %v", c.addr, got, c.lab)
		}
		if got := corp.Allowed(a); got != c.corp {
			t.Errorf("10.20.0.0/16 allowed: Allowed(%s) = %v, want %v", c.addr, got, c.corp)
		}
	}
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks(" 127.0.0.0/8, 10.1.2.3 ,::1,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "10.1.2.3/32", "::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParseNetworks("10.0.0.0/8,intranet"); err == nil || !strings.Contains(err.Error(), `"intranet"`) {
		t.Errorf("error %v, want it to name the bad entry", err)
	}
}

// TestDialerChecksTheResolvedAddress: a server on 127.0.0.1 is unreachable
// by its address, by a name resolving to it (localhost) and through a
// redirect from an allowed server, and reachable once loopback is allowed.
// No connection leaves the machine: refused addresses are never dialed.
func TestDialerChecksTheResolvedAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("opens sockets")
	}
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secret"))
	}))
	defer inner.Close()
	_, port, _ := net.SplitHostPort(inner.Listener.Addr().String())

	client := func(p *Policy) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: p.DialContext}}
	}
	for _, u := range []string{inner.URL, "http://localhost:" + port + "/"} {
		_, err := client(nil).Get(u)
		if !IsRefused(err) {
			t.Errorf("GET %s with the default policy: %v, want refused", u, err)
		}
	}
	resp, err := client(Allow(Loopback()...)).Get(inner.URL)
	if err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	resp.Body.Close()

	// A redirect is dialed like any other request: an allowed 127.0.0.2
	// sending the client to 127.0.0.1 gets nowhere.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 not available: %v", err)
	}
	redirector := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.RedirectHandler(inner.URL, http.StatusFound)}}
	redirector.Start()
	defer redirector.Close()
	only2 := Allow(netip.MustParsePrefix("127.0.0.2/32"))
	if _, err := client(only2).Get(redirector.URL); !IsRefused(err) {
		t.Errorf("redirect to a refused address: %v, want refused", err)
	}
}

func TestCheckHost(t *testing.T) {
	if testing.Short() {
		t.Skip("resolves localhost")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range []string{"127.0.0.1", "[::1]", "localhost", "169.254.169.254"} {
		if err := (*Policy)(nil).CheckHost(ctx, h); !IsRefused(err) {
			t.Errorf("CheckHost(%s) = %v, want refused", h, err)
		}
	}
	if err := Allow(Loopback()...).CheckHost(ctx, "localhost"); err != nil {
		t.Errorf("CheckHost(localhost) with loopback allowed: %v", err)
	}
	if err := (*Policy)(nil).CheckAddr(&net.TCPAddr{IP: net.ParseIP("10.1.1.1"), Port: 22}); !IsRefused(err) {
		t.Errorf("CheckAddr(10.1.1.1) = %v, want refused", err)
	}
}
