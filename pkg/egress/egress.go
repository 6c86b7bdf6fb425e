// Package egress decides which network addresses the hub may connect to on
// behalf of a tenant: Git, Helm and S3 sources and forge APIs named in a
// Channel. Loopback, link-local (cloud metadata at 169.254.169.254), private,
// shared (CGNAT) and other special-purpose ranges are refused unless the
// hub's administrator allows them (--allow-networks); public addresses are
// always allowed.
//
// The check runs when a connection is made, on the address actually dialed
// after name resolution, so a DNS answer or an HTTP redirect pointing inside
// cannot get around it.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Policy lists the non-public networks connections may reach. The zero
// value and nil allow public addresses only. A Policy is immutable and safe
// for concurrent use.
type Policy struct {
	allowed []netip.Prefix
}

// Allow returns a Policy that also allows the given networks.
func Allow(networks ...netip.Prefix) *Policy {
	p := &Policy{}
	for _, n := range networks {
		p.allowed = append(p.allowed, n.Masked())
	}
	return p
}

// Loopback is 127.0.0.0/8 and ::1, what the lab and tests allow.
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ParseNetworks reads a comma-separated list of CIDRs and addresses
// ("127.0.0.0/8,10.1.2.3"), as --allow-networks takes it.
func ParseNetworks(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an IP address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Networks lists the allowed non-public networks.
func (p *Policy) Networks() []netip.Prefix {
	if p == nil {
		return nil
	}
	return append([]netip.Prefix(nil), p.allowed...)
}

// Allowed reports whether a connection to addr may be made: a public
// address, or one inside an allowed network.
func (p *Policy) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if p != nil {
		for _, n := range p.allowed {
			if n.Contains(addr) {
				return true
			}
		}
	}
	return Public(addr)
}

// special are ranges that are not public besides those netip names:
// shared address space (CGNAT, where some clouds put their metadata
// service), "this network", IETF protocol assignments, benchmarking,
// reserved, NAT64 local use, discard-only and documentation ranges.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// nat64 embeds an IPv4 address in its last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Public reports whether addr is a globally routable unicast address.
func Public(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsMulticast() || !addr.IsGlobalUnicast() {
		return false
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		return Public(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, n := range special {
		if n.Contains(addr) {
			return false
		}
	}
	return true
}

// RefusedError says a connection was not made because of the policy. Its
// message names no address, so it can go into a tenant's status.
type RefusedError struct {
	// Addr is the address refused, for logs.
	Addr netip.Addr
}

func (e *RefusedError) Error() string {
	return "the address is loopback, link-local or private, which this hub may not reach (its administrator can allow such networks with --allow-networks)"
}

// IsRefused reports whether err is, or wraps, a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// check is a net.Dialer Control function: it runs on the resolved address
// right before each connect.
func (p *Policy) check(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: dialing %q: %w", address, err)
	}
	if !p.Allowed(ap.Addr()) {
		return &RefusedError{Addr: ap.Addr()}
	}
	return nil
}

// Dialer returns a dialer that refuses what the policy refuses.
func (p *Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.check}
}

// DialContext dials like net.Dialer with a 30 s timeout, refusing what the
// policy refuses.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return p.Dialer(30*time.Second).DialContext(ctx, network, address)
}

// CheckHost resolves host (a name or an address literal) and fails when any
// of its addresses is refused. Use it where the connection itself cannot be
// checked before it is made; it races with DNS changes, so check the
// connected address as well (CheckAddr).
func (p *Policy) CheckHost(ctx context.Context, host string) error {
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		if !p.Allowed(a) {
			return &RefusedError{Addr: a}
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !p.Allowed(a) {
			return &RefusedError{Addr: a}
		}
	}
	return nil
}

// CheckAddr fails when a connected peer's address is refused.
func (p *Policy) CheckAddr(addr net.Addr) error {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("egress: unexpected peer address %v", addr)
	}
	a, ok := netip.AddrFromSlice(tcp.IP)
	if !ok || !p.Allowed(a) {
		return &RefusedError{Addr: a}
	}
	return nil
}
