package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPDashboardDefaults(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.HTTP
	if h.Dashboard || h.Username != "admin" || h.Password != "" || h.InsecurePassword || h.SessionTimeout != 12*time.Hour {
		t.Errorf("http defaults = %+v", h)
	}
	// Off by default, so no password is needed.
	cfg.ARI.InsecurePassword = true
	if err := cfg.CheckSecrets(); err != nil {
		t.Errorf("CheckSecrets with the dashboard off: %v", err)
	}
}

func TestHTTPDashboardSecrets(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "dashboard.secret")
	if err := os.WriteFile(secret, []byte("file-s3cret-long\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "open.secret")
	if err := os.WriteFile(open, []byte("file-s3cret-long\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	const base = "ari:\n  insecure_password: true\nhttp:\n  dashboard: true\n"
	tests := []struct {
		name, yaml string
		env        map[string]string
		loadErr    string // Load fails naming this
		secretsErr string // CheckSecrets fails naming this
		password   string
	}{
		{name: "empty password refused", yaml: base, secretsErr: "http.password"},
		{name: "sample password refused", yaml: base + "  password: changeme\n", secretsErr: "http.password"},
		{name: "empty password for a lab", yaml: base + "  insecure_password: true\n"},
		{name: "password from the file", yaml: base + "  password: \"\"\n  password_file: " + secret + "\n", password: "file-s3cret-long"},
		{name: "password from the environment", yaml: base, env: map[string]string{"CALLSCREEN_HTTP_PASSWORD": "env-s3cret-long"}, password: "env-s3cret-long"},
		{name: "environment wins over the file", yaml: base + "  password_file: " + secret + "\n", env: map[string]string{"CALLSCREEN_HTTP_PASSWORD": "env-s3cret-long"}, password: "env-s3cret-long"},
		{name: "one-character password refused", yaml: base + "  password: x\n", secretsErr: "at least 12"},
		{name: "eleven characters refused", yaml: base + "  password: x-s3cret-11\n", secretsErr: "at least 12"},
		{name: "short password for a lab", yaml: base + "  password: x\n  insecure_password: true\n", password: "x"},
		{name: "world-readable password file refused", yaml: base + "  password_file: " + open + "\n", secretsErr: "mode 0644"},
		{name: "missing password file", yaml: base + "  password_file: /nonexistent/secret\n", secretsErr: "http.password_file"},
		{name: "no user name", yaml: base + "  username: \"\"\n  password: x-s3cret\n", loadErr: "http.username"},
		{name: "short session", yaml: base + "  password: x-s3cret\n  session_timeout: 10s\n", loadErr: "http.session_timeout"},
		{name: "bad session duration", yaml: base + "  session_timeout: a while\n", loadErr: "session_timeout"},
		{name: "unknown key", yaml: base + "  pasword: x\n", loadErr: "pasword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(writeConfig(t, tt.yaml))
			if tt.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.loadErr) {
					t.Errorf("Load err = %v, want one naming %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckSecrets()
			if tt.secretsErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.secretsErr) {
					t.Errorf("CheckSecrets err = %v, want one naming %q", err, tt.secretsErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.Password != tt.password {
				t.Errorf("password %q, want %q", cfg.HTTP.Password, tt.password)
			}
		})
	}
}

// TestHTTPIntegratorSecrets: the integrator's login follows the dashboard
// password's rules (environment, then file, then value; 12 characters; a
// file others may read is refused) and is off without a user name.
func TestHTTPIntegratorSecrets(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "integrator.secret")
	if err := os.WriteFile(secret, []byte("fleet-s3cret-long\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(t.TempDir(), "open.secret")
	if err := os.WriteFile(open, []byte("fleet-s3cret-long\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	const base = "ari:\n  insecure_password: true\nhttp:\n  dashboard: true\n  password: tenant-s3cret-long\n"
	tests := []struct {
		name, yaml string
		env        map[string]string
		loadErr    string
		secretsErr string
		user, pass string
	}{
		{name: "off without a user name", yaml: base},
		{name: "password from the file", yaml: base + "  integrator_username: integrator\n  integrator_password_file: " + secret + "\n", user: "integrator", pass: "fleet-s3cret-long"},
		{name: "password from the environment", yaml: base + "  integrator_username: integrator\n  integrator_password_file: " + secret + "\n",
			env: map[string]string{"CALLSCREEN_HTTP_INTEGRATOR_PASSWORD": "env-fleet-s3cret"}, user: "integrator", pass: "env-fleet-s3cret"},
		{name: "password in the file", yaml: base + "  integrator_username: integrator\n  integrator_password: yaml-fleet-s3cret\n", user: "integrator", pass: "yaml-fleet-s3cret"},
		{name: "no password refused", yaml: base + "  integrator_username: integrator\n", secretsErr: "http.integrator_password: empty"},
		{name: "short password refused", yaml: base + "  integrator_username: integrator\n  integrator_password: fleet-11chr\n", secretsErr: "http.integrator_password: 11 characters"},
		{name: "short password for a lab", yaml: base + "  insecure_password: true\n  integrator_username: integrator\n  integrator_password: x\n", user: "integrator", pass: "x"},
		{name: "world-readable file refused", yaml: base + "  integrator_username: integrator\n  integrator_password_file: " + open + "\n", secretsErr: "mode 0644"},
		{name: "missing file", yaml: base + "  integrator_username: integrator\n  integrator_password_file: /nonexistent/secret\n", secretsErr: "http.integrator_password_file"},
		{name: "password without a user name", yaml: base + "  integrator_password_file: " + secret + "\n", loadErr: "http.integrator_username: required"},
		{name: "same name as the tenant login", yaml: base + "  integrator_username: admin\n  integrator_password_file: " + secret + "\n", loadErr: "also http.username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(writeConfig(t, tt.yaml))
			if tt.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.loadErr) {
					t.Errorf("Load err = %v, want one naming %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.CheckSecrets()
			if tt.secretsErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.secretsErr) {
					t.Errorf("CheckSecrets err = %v, want one naming %q", err, tt.secretsErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.IntegratorUsername != tt.user || cfg.HTTP.IntegratorPassword != tt.pass {
				t.Errorf("integrator %q/%q, want %q/%q", cfg.HTTP.IntegratorUsername, cfg.HTTP.IntegratorPassword, tt.user, tt.pass)
			}
			if cfg.HTTP.Password != "tenant-s3cret-long" {
				t.Errorf("dashboard password %q changed", cfg.HTTP.Password)
			}
		})
	}
}
