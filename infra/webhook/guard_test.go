package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestBlockedReason(t *testing.T) {
	blockedAddrs := map[string]string{
		"127.0.0.1":                "loopback",
		"127.255.255.254":          "loopback",
		"10.0.0.1":                 "private",
		"172.16.5.4":               "private",
		"172.31.255.255":           "private",
		"192.168.1.1":              "private",
		"169.254.169.254":          "metadata",
		"169.254.1.1":              "link-local",
		"100.64.0.1":               "carrier-grade NAT",
		"100.127.255.255":          "carrier-grade NAT",
		"0.0.0.0":                  "this network",
		"0.1.2.3":                  "this network",
		"224.0.0.1":                "multicast",
		"239.255.255.250":          "multicast",
		"255.255.255.255":          "broadcast",
		"240.0.0.1":                "reserved",
		"192.0.0.192":              "IETF", // Oracle Cloud metadata
		"198.18.0.1":               "benchmarking",
		"192.0.2.10":               "documentation",
		"::":                       "unspecified",
		"::1":                      "loopback",
		"fe80::1":                  "link-local",
		"fe80::1%eth0":             "link-local",
		"fc00::1":                  "unique local",
		"fd00:ec2::254":            "unique local", // AWS IPv6 metadata
		"ff02::1":                  "multicast",
		"::ffff:127.0.0.1":         "IPv4-mapped IPv6 form of a loopback",
		"::ffff:169.254.169.254":   "IPv4-mapped IPv6 form of the cloud metadata",
		"::ffff:10.1.2.3":          "IPv4-mapped IPv6 form of a private",
		"::127.0.0.1":              "IPv4-compatible",
		"64:ff9b::a9fe:a9fe":       "NAT64 form of the cloud metadata",
		"2002:7f00:1::1":           "6to4 form of a loopback",
		"2001:db8::1":              "documentation",
		"2001:0:4136:e378::1":      "Teredo",
		"fec0::1":                  "site-local",
		"100::1":                   "discard-only",
		"64:ff9b:1::1":             "local-use NAT64",
		"::ffff:0.0.0.0":           "this network",
		"::ffff:255.255.255.255":   "broadcast",
		"::ffff:100.64.0.1":        "carrier-grade",
		"::ffff:224.0.0.1":         "multicast",
		"::ffff:192.168.0.1":       "private",
		"2002:a00:1::":             "6to4 form of a private",
		"64:ff9b::127.0.0.1":       "NAT64 form of a loopback",
		"::ffff:172.16.0.1":        "private",
		"fd12:3456:789a:1::1":      "unique local",
		"febf:ffff::1":             "link-local",
		"ff05::2":                  "multicast",
		"2001:2::1":                "benchmarking",
		"3fff::1":                  "documentation",
		"198.51.100.7":             "TEST-NET-2",
		"203.0.113.7":              "TEST-NET-3",
		"192.88.99.1":              "6to4 relay",
		"::ffff:198.51.100.7":      "TEST-NET-2",
		"64:ff9b::10.0.0.1":        "NAT64 form of a private",
		"2002:c0a8:101::1":         "6to4 form of a private",
		"::ffff:169.254.0.1":       "link-local",
		"::ffff:127.1.2.3":         "loopback",
		"::ffff:0:0":               "this network",
		"::2":                      "IPv4-compatible",
		"fe80::a9fe:a9fe":          "link-local",
		"ff00::":                   "multicast",
		"fc00::":                   "unique local",
		"::ffff:240.0.0.0":         "reserved",
		"::ffff:192.0.0.1":         "IETF",
		"::ffff:198.19.255.255":    "benchmarking",
		"2001::":                   "Teredo",
		"2001:db8:ffff:ffff::":     "documentation",
		"100::":                    "discard-only",
		"::ffff:7f00:1":            "loopback",
		"0:0:0:0:0:ffff:a9fe:a9fe": "cloud metadata",
	}
	for s, want := range blockedAddrs {
		got := BlockedReason(netip.MustParseAddr(s))
		if got == "" || !strings.Contains(got, want) {
			t.Errorf("BlockedReason(%s) = %q, want it blocked as %q", s, got, want)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0",
		"172.15.255.255", "172.32.0.0", "169.253.255.255", "11.0.0.1", "223.255.255.255",
		"2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		if got := BlockedReason(netip.MustParseAddr(s)); got != "" {
			t.Errorf("BlockedReason(%s) = %q, want it allowed (public unicast)", s, got)
		}
	}
	if BlockedReason(netip.Addr{}) == "" {
		t.Error("the zero Addr must be blocked")
	}
}

func TestControl(t *testing.T) {
	for _, c := range []struct{ network, addr, want string }{
		{"tcp4", "127.0.0.1:443", "loopback"},
		{"tcp6", "[::ffff:169.254.169.254]:80", "cloud metadata"},
		{"tcp6", "[fe80::1%eth0]:443", "link-local"},
		{"udp4", "8.8.8.8:53", "TCP only"},
		{"tcp", "example.com:443", "not an IP"},
		{"tcp", "nonsense", "not an ip:port"},
	} {
		err := Control(c.network, c.addr, nil)
		var b *BlockedError
		if !errors.As(err, &b) || !strings.Contains(b.Reason, c.want) || b.Addr != c.addr {
			t.Errorf("Control(%s, %s) = %v, want a BlockedError about %q", c.network, c.addr, err, c.want)
		}
	}
	if err := Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control refused a public address: %v", err)
	}
}

// blockedAttempt asserts a must-not-connect attempt: no status, a
// BlockedError saying why, and the given outcome.
func blockedAttempt(t *testing.T, a Attempt, want string, outcome Outcome) {
	t.Helper()
	var b *BlockedError
	if a.StatusCode != 0 || !errors.As(a.Err, &b) || !strings.Contains(a.Error, "blocked by the SSRF guard") ||
		!strings.Contains(a.Error, want) || a.Outcome != outcome {
		t.Errorf("attempt = %+v (err %v), want blocked by the SSRF guard because %q, outcome %s", a, a.Err, want, outcome)
	}
}

func TestGuardNeverConnects(t *testing.T) {
	tlsSrv, tlsCount := countingServer(t, nil, true)
	plainSrv, plainCount := countingServer(t, nil, false)
	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	plainPort := plainSrv.Listener.Addr().(*net.TCPAddr).Port

	// An IPv6 loopback receiver, where the machine has one.
	var v6Count *countingListener
	var v6Port int
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		_, v6Count = countingServer(t, l, false)
		v6Port = l.Addr().(*net.TCPAddr).Port
	}

	// Host names that resolve (through a resolver with no network) to
	// blocked addresses, as a DNS-rebinding attacker's name would.
	res := fakeResolver(t, map[string][]netip.Addr{
		"loop.attacker.test":     {netip.MustParseAddr("127.0.0.1")},
		"internal.attacker.test": {netip.MustParseAddr("10.0.0.1")},
		"metadata.attacker.test": {netip.MustParseAddr("169.254.169.254")},
		"v6loop.attacker.test":   {netip.MustParseAddr("::1")},
		"mapped.attacker.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"mixed.attacker.test":    {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")},
	})
	c := testClient(t, Options{Resolver: res})
	secret := newSecret(t)
	deliver := func(u string) Attempt {
		return c.Deliver(context.Background(), Request{URL: u, ID: "msg_ssrf", ConversationID: "c", Body: []byte(`{}`), Secrets: []string{secret}})
	}
	port := func(p int) string { return ":" + strconv.Itoa(p) }

	// Literal addresses: refused before any socket, for good (Gone).
	blockedAttempt(t, deliver("https://127.0.0.1"+port(tlsPort)+"/hook"), "loopback", Gone)
	blockedAttempt(t, deliver("https://10.0.0.1"+port(tlsPort)+"/hook"), "private", Gone)
	blockedAttempt(t, deliver("https://169.254.169.254/latest/meta-data/"), "cloud metadata", Gone)
	blockedAttempt(t, deliver("https://[::1]"+port(v6Port)+"/hook"), "loopback", Gone)
	blockedAttempt(t, deliver("https://[::ffff:127.0.0.1]"+port(tlsPort)+"/hook"), "IPv4-mapped", Gone)
	blockedAttempt(t, deliver("https://0.0.0.0"+port(tlsPort)+"/hook"), "this network", Gone)

	// Host names: refused at connect time on the resolved address. DNS may
	// change, so these are retried (Retry), and each retry is checked again.
	blockedAttempt(t, deliver("https://localhost"+port(tlsPort)+"/hook"), "loopback", Retry)
	blockedAttempt(t, deliver("https://loop.attacker.test"+port(tlsPort)+"/hook"), "127.0.0.1", Retry)
	blockedAttempt(t, deliver("https://internal.attacker.test"+port(tlsPort)+"/hook"), "private", Retry)
	blockedAttempt(t, deliver("https://metadata.attacker.test/latest/meta-data/"), "cloud metadata", Retry)
	blockedAttempt(t, deliver("https://v6loop.attacker.test"+port(v6Port)+"/hook"), "loopback", Retry)
	blockedAttempt(t, deliver("https://mapped.attacker.test"+port(tlsPort)+"/hook"), "loopback", Retry)
	blockedAttempt(t, deliver("https://mixed.attacker.test"+port(tlsPort)+"/hook"), "blocked by the SSRF guard", Retry)

	// Plain http:// is refused by itself, whatever the address.
	a := deliver(plainSrv.URL + "/hook")
	blockedAttempt(t, a, "https://", Gone)
	if !strings.Contains(a.Error, "plain http://") {
		t.Errorf("http:// refusal = %q", a.Error)
	}
	blockedAttempt(t, deliver("http://loop.attacker.test"+port(plainPort)+"/hook"), "plain http://", Gone)

	// Positive control: the same targets with AllowPrivate are delivered,
	// through the same resolver. Connections are accepted in order, so a
	// count of exactly one per server proves none of the attempts above
	// ever connected.
	open := testClient(t, Options{Resolver: res, AllowPrivate: true})
	for _, u := range []string{plainSrv.URL + "/hook", "http://loop.attacker.test" + port(plainPort) + "/hook"} {
		a := open.Deliver(context.Background(), Request{URL: u, ID: "msg_ok", Body: []byte(`{}`), Secrets: []string{secret}})
		if a.Outcome != Delivered || a.StatusCode != http.StatusNoContent {
			t.Fatalf("with AllowPrivate, %s: %+v", u, a)
		}
	}
	if n := plainCount.n.Load(); n != 2 {
		t.Errorf("the plain receiver accepted %d connections, want 2 (one per AllowPrivate delivery)", n)
	}
	if n := tlsCount.n.Load(); n != 0 {
		t.Errorf("the guarded TLS receiver on 127.0.0.1 accepted %d connections, want 0", n)
	}
	if v6Count != nil {
		u := "http://[::1]" + port(v6Port) + "/hook"
		if a := open.Deliver(context.Background(), Request{URL: u, ID: "msg_ok", Body: []byte(`{}`), Secrets: []string{secret}}); a.Outcome != Delivered {
			t.Fatalf("with AllowPrivate, %s: %+v", u, a)
		}
		if n := v6Count.n.Load(); n != 1 {
			t.Errorf("the [::1] receiver accepted %d connections, want 1 (the AllowPrivate one)", n)
		}
	}
}

func TestOtherURLsRefused(t *testing.T) {
	c := testClient(t, Options{})
	secret := newSecret(t)
	for u, want := range map[string]string{
		"ftp://example.com/x":  "scheme",
		"/relative":            "not an absolute",
		"https://":             "not an absolute",
		"http://[::1":          "not an absolute",
		"file:///etc/passwd":   "not an absolute",
		"gopher://example.com": "scheme",
	} {
		a := c.Deliver(context.Background(), Request{URL: u, ID: "m", Body: []byte(`{}`), Secrets: []string{secret}})
		if a.Outcome != Gone || a.StatusCode != 0 || !strings.Contains(a.Error, want) {
			t.Errorf("%s: %+v, want Gone mentioning %q", u, a, want)
		}
	}
}
