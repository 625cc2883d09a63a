package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gatewaycli "github.com/sois-ai/chat-agent-gateway/handlers/cli"

	"github.com/urfave/cli/v3"
	"go.yaml.in/yaml/v3"
)

// imageShips is what each image of docker-compose.yml has for a health
// check to run, as its own Dockerfile makes it. No engine runs here, so a
// check that calls what its image lacks would only fail on a user's
// machine, with every service that depends on it waiting forever: a new
// image must be described here before the compose file may use it.
var imageShips = map[string]struct {
	shell bool
	tools []string
}{
	// Ubuntu runtime-deps with curl, which its own HEALTHCHECK uses.
	"docker.kurrent.io/kurrent-latest/kurrentdb:25.0": {shell: true, tools: []string{"curl"}},
	// Debian with the Postgres client programs.
	"postgres:16": {shell: true, tools: []string{"pg_isready", "psql"}},
	// Alpine with busybox; the plain nats image is the server binary alone.
	"nats:2.10-alpine": {shell: true, tools: []string{"nats-server", "wget"}},
	// Alpine with busybox.
	"caddy:2": {shell: true, tools: []string{"caddy", "wget"}},
	// Ours (Dockerfile): distroless static, no shell, the gateway binary.
	"build .": {shell: false, tools: []string{"/gateway"}},
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func TestComposeHealthChecksUseWhatTheirImagesShip(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	// ${VAR:?message} fails every compose command while VAR is unset,
	// even `docker compose up eventstore`, which needs no gateway secret.
	if strings.Contains(string(raw), ":?") {
		t.Error("docker-compose.yml requires a variable with ${…:?…}: compose then refuses every service while it is unset")
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Services) < 5 {
		t.Fatalf("read %d services from docker-compose.yml", len(file.Services))
	}
	for name, svc := range file.Services {
		image := svc.Image
		if svc.Build != "" {
			image = "build " + svc.Build
		}
		ships, ok := imageShips[image]
		if !ok {
			t.Errorf("service %s uses image %q, whose contents this test does not describe", name, image)
			continue
		}
		if svc.Healthcheck == nil {
			continue
		}
		test := svc.Healthcheck.Test
		if len(test) < 2 {
			t.Errorf("service %s: health check %q has no command", name, test)
			continue
		}
		var program string
		switch test[0] {
		case "CMD-SHELL":
			if !ships.shell {
				t.Errorf("service %s: a CMD-SHELL health check, and image %s has no shell", name, image)
			}
			program = strings.Fields(test[1])[0]
		case "CMD":
			program = test[1]
		default:
			t.Errorf("service %s: health check kind %q", name, test[0])
			continue
		}
		if !slices.Contains(ships.tools, program) {
			t.Errorf("service %s: the health check runs %s, which image %s does not ship (it has %s)", name, program, image, strings.Join(ships.tools, ", "))
		}
		if program == "/gateway" {
			checkGatewayProbe(t, name, test[2:])
		}
	}
}

// checkGatewayProbe holds the gateways' health check to the command line
// the binary has.
func checkGatewayProbe(t *testing.T, service string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "health" {
		t.Errorf("service %s: the health check runs /gateway %s, not /gateway health", service, strings.Join(args, " "))
		return
	}
	flags := gatewaycli.Health().Flags
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0]
		if !slices.ContainsFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) }) {
			t.Errorf("service %s: gateway health has no flag --%s", service, name)
		}
	}
}

// The image's embedded run, as the Dockerfile makes it: the binary built
// by the Dockerfile's own build line, started with its ENV and CMD in a
// data directory the image owns, answers the compose health check.
func TestDockerfileEmbeddedRun(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	build := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*-o )/out/gateway( \./cmd/gateway)$`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("the Dockerfile has no `RUN CGO_ENABLED=0 go build … -o /out/gateway ./cmd/gateway` line")
	}
	for _, want := range []string{"RUN mkdir -p /out/data", "COPY --from=build --chown=65532:65532 /out/data /data", `ENTRYPOINT ["/gateway"]`, `CMD ["serve"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q: the nonroot user must own the data directory, and the health check calls /gateway", want)
		}
	}
	envLine := regexp.MustCompile(`(?m)^ENV (.+)$`).FindStringSubmatch(df)
	if envLine == nil {
		t.Fatal("the Dockerfile sets no ENV")
	}
	env := map[string]string{}
	for _, kv := range strings.Fields(envLine[1]) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["GATEWAY_DATA_DIR"] != "/data" {
		t.Errorf("the image's GATEWAY_DATA_DIR is %q, not the /data it creates", env["GATEWAY_DATA_DIR"])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "gateway")
	line := build[1] + bin + build[2]
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}

	// The image's settings, but a free port and a data directory of our
	// own (the image's /data, empty and writable).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	env["GATEWAY_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	env["GATEWAY_DATA_DIR"] = data
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	var logs strings.Builder
	srv := exec.CommandContext(ctx, bin, "serve")
	srv.Env, srv.Stdout, srv.Stderr = environ, &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("gateway output:\n%s", logs.String())
		}
	}()

	// The gateways' health check from docker-compose.yml, pointed at the
	// port chosen here.
	composeRaw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(composeRaw, &compose); err != nil {
		t.Fatal(err)
	}
	probe := compose.Services["gateway-1"].Healthcheck.Test[2:]
	for i, a := range probe {
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			u.Host = "127.0.0.1:" + strconv.Itoa(port)
			probe[i] = u.String()
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		check := exec.CommandContext(ctx, bin, probe...)
		check.Env = environ
		b, err := check.CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s did not pass within 60s: %v\n%s", strings.Join(probe, " "), err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(data, "secret.key")); err != nil {
		t.Errorf("the embedded run kept nothing in its data directory: %v", err)
	}
}
