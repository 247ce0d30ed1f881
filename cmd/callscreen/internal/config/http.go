package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// httpDefaults are the defaults of the admin dashboard's keys (http.*
// besides http.listen).
func httpDefaults() map[string]any {
	return map[string]any{
		// The dashboard and JSON API are off until an operator sets a
		// password and turns them on.
		"http.dashboard":         false,
		"http.username":          "admin",
		"http.password":          "",
		"http.password_file":     "",
		"http.insecure_password": false,
		"http.session_timeout":   "12h",
	}
}

// validate checks the dashboard's keys that need no secrets.
func (h *HTTP) validate() []error {
	if !h.Dashboard {
		return nil
	}
	var errs []error
	if strings.TrimSpace(h.Username) == "" {
		errs = append(errs, errors.New("http.username: required when http.dashboard is true"))
	}
	if h.SessionTimeout < time.Minute || h.SessionTimeout > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("http.session_timeout: %v is out of range (1m to 720h)", h.SessionTimeout))
	}
	return errs
}

// checkSecrets reads http.password_file and refuses an empty or sample
// dashboard password unless http.insecure_password is set.
func (h *HTTP) checkSecrets() error {
	if !h.Dashboard {
		return nil
	}
	if h.PasswordFile != "" {
		b, err := os.ReadFile(h.PasswordFile)
		if err != nil {
			return fmt.Errorf("http.password_file: %w", err)
		}
		h.Password = strings.TrimSpace(string(b))
	}
	if samplePasswords[h.Password] && !h.InsecurePassword {
		return errors.New("http.password: empty or a sample password while http.dashboard is true; set a real one (CALLSCREEN_HTTP_PASSWORD or http.password_file), or http.insecure_password: true for a lab")
	}
	return nil
}
