package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeWiring checks docker-compose.yml without Docker: the kubelab
// service must reach the postgres service with its own credentials, wait for
// it to be healthy, and publish the port kubelab listens on.
func TestComposeWiring(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       string            `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Ports       []string       `yaml:"ports"`
			Healthcheck map[string]any `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	pg, ok := compose.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil {
		t.Fatalf("postgres service = %+v, want a postgres image with a healthcheck", pg)
	}
	kl, ok := compose.Services["kubelab"]
	if !ok || kl.Build != "." {
		t.Fatalf("kubelab service = %+v, want build: .", kl)
	}
	if dep := kl.DependsOn["postgres"]; dep.Condition != "service_healthy" {
		t.Errorf("kubelab depends_on postgres condition = %q, want service_healthy", dep.Condition)
	}
	dsn, err := url.Parse(kl.Environment["KUBELAB_DATABASE_URL"])
	if err != nil {
		t.Fatalf("KUBELAB_DATABASE_URL: %v", err)
	}
	pw, _ := dsn.User.Password()
	got := []string{dsn.Hostname(), dsn.Port(), dsn.User.Username(), pw, strings.TrimPrefix(dsn.Path, "/")}
	want := []string{"postgres", "5432", pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_PASSWORD"], pg.Environment["POSTGRES_DB"]}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("database URL host, port, user, password, db = %q, want %q", got, want)
	}
	port := strings.TrimPrefix(kl.Environment["KUBELAB_ADDR"], ":")
	if len(kl.Ports) != 1 || !strings.HasSuffix(kl.Ports[0], ":"+port) {
		t.Errorf("kubelab ports = %q, want one mapping to container port %s", kl.Ports, port)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "go build") || !strings.Contains(string(dockerfile), "./cmd/kubelab") {
		t.Error("Dockerfile does not build ./cmd/kubelab")
	}
}
