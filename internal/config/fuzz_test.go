package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary bytes as the configuration file. Load must
// return a configuration or an error, never panic, and a configuration it
// returns must have passed validation (every profile it names exists).
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"ari:\n  enabled: false\n",
		"ari: {password: x, insecure_password: yes}\nprofiles: {default: {country: JP}}\n",
		"profiles:\n  default:\n    country: JP\n    own_numbers: [\"0399991000\"]\n    challenge: {digits: \"7\", timeout: 3s, attempts: 2}\n",
		"default_profile: nope\n",
		"dids: {\"0312345678\": missing}\n",
		"trunks: {provider: {addresses: [127.0.0.2, \"::1\", 10.0.0.0/8]}}\n",
		"calls: {deadline: -1h}\n",
		"profiles: [1, 2, 3]\n",
		"profiles: {default: 7}\n",
		"velocity: {buckets: -1, width: 0}\n",
		"a: &a [*a, *a]\n",
		"key: !!binary AAAA\n",
		"? [complex]\n: key\n",
		"log: {level: \"\\x00\", format: json}\n",
		"\t- not yaml",
		"numbers: {cache_size: 99999999999999999999}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "callscreen.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			if cfg != nil {
				t.Errorf("Load returned a config and an error (%v)", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("Load returned neither a config nor an error")
		}
		if _, ok := cfg.Profiles[cfg.DefaultProfile]; !ok {
			t.Errorf("accepted config without its default profile %q", cfg.DefaultProfile)
		}
		for did, p := range cfg.DIDs {
			if _, ok := cfg.Profiles[p]; !ok {
				t.Errorf("accepted dids.%s -> missing profile %q", did, p)
			}
		}
		_ = cfg.Policy()
		_ = cfg.CheckSecrets() // may fail; must not panic
	})
}
