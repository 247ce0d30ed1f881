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
	return errs
}

// minDashboardPassword is the shortest dashboard password accepted
// without http.insecure_password.
const minDashboardPassword = 12

// checkSecrets resolves the dashboard password (CALLSCREEN_HTTP_PASSWORD,
// else http.password_file, else http.password) and refuses an empty,
// sample or short one unless http.insecure_password is set.
func (h *HTTP) checkSecrets() error {
	if !h.Dashboard {
		return nil
	}
	if env := os.Getenv("CALLSCREEN_HTTP_PASSWORD"); env != "" {
		h.Password = env
	} else if h.PasswordFile != "" {
		p, err := readSecret("http.password_file", h.PasswordFile)
		if err != nil {
			return err
		}
		h.Password = p
	}
	switch {
	case h.InsecurePassword:
	case samplePasswords[h.Password]:
		return errors.New("http.password: empty or a sample password while http.dashboard is true; set a real one (CALLSCREEN_HTTP_PASSWORD or http.password_file), or http.insecure_password: true for a lab")
	case utf8.RuneCountInString(h.Password) < minDashboardPassword:
		return fmt.Errorf("http.password: %d characters; use at least %d (or http.insecure_password: true for a lab)", utf8.RuneCountInString(h.Password), minDashboardPassword)
	}
	return nil
}
