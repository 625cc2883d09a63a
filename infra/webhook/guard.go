package webhook

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// BlockedError is why the SSRF guard refused a delivery: Addr is what was
// refused (the "ip:port" actually being dialled, or the URL's host when the
// URL itself is refused) and Reason says what is wrong with it in words an
// API-key owner can act on.
type BlockedError struct {
	Addr   string
	Reason string
}

func (e *BlockedError) Error() string {
	return "blocked by the SSRF guard: " + e.Addr + " is " + e.Reason
}

// blockedRange is one range the guard refuses, with the words used to say why.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

func br(cidr, reason string) blockedRange {
	return blockedRange{netip.MustParsePrefix(cidr), reason}
}

// blocked lists every range a webhook must never reach: anything that is not
// ordinary public unicast. Response URLs are typed in by customers, so
// without this a key owner could make the gateway POST into our own network
// (databases, admin ports, the cloud metadata service that hands out
// credentials) and read the first KiB of the answer back from the poll
// response. More specific entries come first so the reason is the most
// precise one.
var blocked = []blockedRange{
	// IPv4.
	br("169.254.169.254/32", "the cloud metadata service address (link-local 169.254.169.254)"),
	br("0.0.0.0/8", `in 0.0.0.0/8 ("this network"; 0.0.0.0 reaches the local host)`),
	br("10.0.0.0/8", "a private address (10.0.0.0/8, RFC 1918)"),
	br("100.64.0.0/10", "a carrier-grade NAT shared address (100.64.0.0/10, RFC 6598)"),
	br("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
	br("169.254.0.0/16", "a link-local address (169.254.0.0/16)"),
	br("172.16.0.0/12", "a private address (172.16.0.0/12, RFC 1918)"),
	br("192.0.0.0/24", "an IETF protocol assignment address (192.0.0.0/24)"),
	br("192.0.2.0/24", "a documentation address (192.0.2.0/24, TEST-NET-1)"),
	br("192.88.99.0/24", "a 6to4 relay anycast address (192.88.99.0/24, deprecated)"),
	br("192.168.0.0/16", "a private address (192.168.0.0/16, RFC 1918)"),
	br("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
	br("198.51.100.0/24", "a documentation address (198.51.100.0/24, TEST-NET-2)"),
	br("203.0.113.0/24", "a documentation address (203.0.113.0/24, TEST-NET-3)"),
	br("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
	br("255.255.255.255/32", "the broadcast address"),
	br("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
	// IPv6. IPv4-mapped, NAT64 and 6to4 addresses are unwrapped and judged
	// by the IPv4 address inside them before this list is consulted.
	br("::/128", "the unspecified address (::)"),
	br("::1/128", "the IPv6 loopback address (::1)"),
	br("::/96", "an IPv4-compatible IPv6 address (::/96, deprecated)"),
	br("64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48)"),
	br("100::/64", "a discard-only address (100::/64)"),
	br("2001::/32", "a Teredo tunnel address (2001::/32)"),
	br("2001:2::/48", "a benchmarking address (2001:2::/48)"),
	br("2001:db8::/32", "a documentation address (2001:db8::/32)"),
	br("3fff::/20", "a documentation address (3fff::/20)"),
	br("fc00::/7", "a unique local address (fc00::/7, the IPv6 private range)"),
	br("fe80::/10", "a link-local address (fe80::/10)"),
	br("fec0::/10", "a site-local address (fec0::/10, deprecated)"),
	br("ff00::/8", "a multicast address (ff00::/8)"),
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// BlockedReason says why a webhook must not be sent to ip, or returns ""
// when ip is an ordinary public unicast address. IPv6 forms that carry an
// IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are judged by that IPv4 address, so ::ffff:127.0.0.1 is
// refused like 127.0.0.1.
func BlockedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not a valid IP address"
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if r := BlockedReason(ip.Unmap()); r != "" {
			return "an IPv4-mapped IPv6 form of " + r
		}
		return ""
	}
	if ip.Is6() {
		b := ip.As16()
		if nat64.Contains(ip) {
			if r := BlockedReason(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); r != "" {
				return "a NAT64 form of " + r
			}
			return ""
		}
		if sixToFour.Contains(ip) {
			if r := BlockedReason(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); r != "" {
				return "a 6to4 form of " + r
			}
			return ""
		}
	}
	for _, r := range blocked {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// Control is a net.Dialer.Control function that refuses to connect to any
// address BlockedReason objects to. It runs after DNS resolution, on the
// very address the socket is about to connect to, once for each address
// the dialer tries: there is no separate "check the name, then connect"
// step for a DNS-rebinding server to race, and every spelling of an address
// (decimal, hex, IPv4-mapped, a hostname pointing at it) ends up here as
// the same IP. It also refuses anything but TCP.
//
// The refusal is a *BlockedError, which the dialer wraps in a *net.OpError;
// errors.As finds it.
func Control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return &BlockedError{Addr: address, Reason: fmt.Sprintf("reached over %q; webhooks go over TCP only", network)}
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &BlockedError{Addr: address, Reason: "not an ip:port address"}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &BlockedError{Addr: address, Reason: "not an IP address"}
	}
	if r := BlockedReason(ip); r != "" {
		return &BlockedError{Addr: address, Reason: r}
	}
	return nil
}
