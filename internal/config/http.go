package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// httpDefaults are the defaults of the admin dashboard's keys (http.*
// besides http.listen).
func httpDefaults() map[string]any {
	return map[string]any{
		// The dashboard and JSON API are off until an operator sets a
		// password and turns them on.
		"http.dashboard":         false,
		"http.max_connections":   128,
		"http.username":          "admin",
		"http.password":          "",
		"http.password_file":     "",
		"http.insecure_password": false,
		"http.session_timeout":   "12h",
		// The integrator's login (fleet view) is off until it has a name.
		"http.integrator_username":      "",
		"http.integrator_password":      "",
		"http.integrator_password_file": "",
	}
}

// validate checks the dashboard's keys that need no secrets.
func (h *HTTP) validate() []error {
	var errs []error
	if h.MaxConnections < 4 || h.MaxConnections > 100000 {
		errs = append(errs, fmt.Errorf("http.max_connections: %d is outside 4..100000", h.MaxConnections))
	}
	if !h.Dashboard {
		return errs
	}
	if strings.TrimSpace(h.Username) == "" {
		errs = append(errs, errors.New("http.username: required when http.dashboard is true"))
	}
	if h.SessionTimeout < time.Minute || h.SessionTimeout > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("http.session_timeout: %v is out of range (1m to 720h)", h.SessionTimeout))
	}
	iu := strings.TrimSpace(h.IntegratorUsername)
	switch {
	case iu == "" && (h.IntegratorPassword != "" || h.IntegratorPasswordFile != ""):
		errs = append(errs, errors.New("http.integrator_username: required when an integrator password is set"))
	case iu != "" && iu == strings.TrimSpace(h.Username):
		errs = append(errs, fmt.Errorf("http.integrator_username: %q is also http.username; give the integrator a name of its own", iu))
	}
	return errs
}

// minDashboardPassword is the shortest dashboard password accepted
// without http.insecure_password.
const minDashboardPassword = 12

// checkSecrets resolves the dashboard password (CALLSCREEN_HTTP_PASSWORD,
// else http.password_file, else http.password) and, when an integrator
// login is configured, the integrator's (CALLSCREEN_HTTP_INTEGRATOR_PASSWORD,
// else http.integrator_password_file, else http.integrator_password). It
// refuses an empty, sample or short one unless http.insecure_password is
// set.
func (h *HTTP) checkSecrets() error {
	if !h.Dashboard {
		return nil
	}
	p, err := h.password("http.password", h.Password, h.PasswordFile, "CALLSCREEN_HTTP_PASSWORD")
	if err != nil {
		return err
	}
	h.Password = p
	if strings.TrimSpace(h.IntegratorUsername) == "" {
		return nil
	}
	p, err = h.password("http.integrator_password", h.IntegratorPassword, h.IntegratorPasswordFile, "CALLSCREEN_HTTP_INTEGRATOR_PASSWORD")
	if err != nil {
		return err
	}
	h.IntegratorPassword = p
	return nil
}

// password resolves one of the dashboard's passwords, named key: the
// environment variable env, else the file, else the value in the
// configuration, and checks it.
func (h *HTTP) password(key, value, file, env string) (string, error) {
	if v := os.Getenv(env); v != "" {
		value = v
	} else if file != "" {
		p, err := readSecret(key+"_file", file)
		if err != nil {
			return "", err
		}
		value = p
	}
	switch {
	case h.InsecurePassword:
	case samplePasswords[value]:
		return "", fmt.Errorf("%s: empty or a sample password while http.dashboard is true; set a real one (%s or %s_file), or http.insecure_password: true for a lab", key, env, key)
	case utf8.RuneCountInString(value) < minDashboardPassword:
		return "", fmt.Errorf("%s: %d characters; use at least %d (or http.insecure_password: true for a lab)", key, utf8.RuneCountInString(value), minDashboardPassword)
	}
	return value, nil
}
