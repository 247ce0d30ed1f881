package service

import (
	"fmt"
	"strings"

	"github.com/callscreen/callscreen/screening"
)

// Normalizer returns a function turning a number as an operator types it
// into the E.164 form lists hold: national numbers are read as numbers of
// country, prefix patterns ("+4470*") must already be in E.164 form.
func Normalizer(numbers *screening.Numbering, country string) func(string) (string, error) {
	return func(s string) (string, error) {
		s = strings.TrimSpace(s)
		if strings.HasSuffix(s, "*") {
			if err := screening.ValidateEntryNumber(s); err != nil {
				return "", fmt.Errorf("prefix patterns must be in E.164 form such as +4470*: %w", err)
			}
			return s, nil
		}
		n := numbers.Classify(s, country)
		if n.E164 == "" {
			return "", fmt.Errorf("%q is not a telephone number", s)
		}
		return n.E164, nil
	}
}
