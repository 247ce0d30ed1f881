package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/screening"
)

type checkFlags struct {
	profile, did, name, pres, trunk, source string
	from, pai, privacy, rpid, userAgent     string
	headers                                 []string
	attestation, verify                     string
	asJSON                                  bool
}

func newCheck(g *globals) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check [flags] NUMBER",
		Short: "Show the verdict a call from NUMBER would get, with every indicator's evidence",
		Long: `check evaluates a call as if it had just arrived, with the configured
profiles and lists, and prints the verdict and the evidence behind it.
Nothing is logged and nothing is counted for velocity.

Examples:
  callscreen check 0312345678
  callscreen check --did 0399990000 +18775550100
  callscreen check --name "NTT サポート" +442071234567
  callscreen check --trunk public --source 198.51.100.7 --header 'User-Agent: friendly-scanner' 100
  callscreen check --from-header '"Anonymous" <sip:anonymous@anonymous.invalid>' anonymous
  callscreen check --from-header '"Unavailable" <sip:anonymous@anonymous.invalid>' anonymous
  callscreen check --trunk provider --source 203.0.113.10 0120444444   (as the carrier delivers it)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("check takes exactly one NUMBER (use \"\" for an empty caller ID), got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			facts, err := f.facts(args[0])
			if err != nil {
				return usageError{err}
			}
			_, rt, err := g.open(cmd.Context(), screenerOptions{readOnly: true})
			if err != nil {
				return err
			}
			defer rt.Close()
			v := rt.engine.Evaluate(facts, f.profile)
			if f.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Facts   *screening.Facts  `json:"facts"`
					Verdict screening.Verdict `json:"verdict"`
				}{facts, v})
			}
			prof, _ := rt.engine.ProfileAt(f.profile, facts.Called, facts.Time)
			printVerdict(cmd.OutOrStdout(), facts, &v, prof)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.profile, "profile", "p", "", "profile to use (default: by DID, else default_profile)")
	fl.StringVarP(&f.did, "did", "d", "", "called number (DID)")
	fl.StringVarP(&f.name, "name", "n", "", "caller's display name")
	fl.StringVar(&f.pres, "pres", "allowed_not_screened", "Asterisk CALLERID(pres)")
	fl.StringVar(&f.trunk, "trunk", "", "PJSIP endpoint the call arrives on")
	fl.StringVar(&f.source, "source", "", "source address of the INVITE")
	fl.StringVar(&f.from, "from-header", "", "raw From header value")
	fl.StringVar(&f.pai, "pai", "", "raw P-Asserted-Identity header value")
	fl.StringVar(&f.privacy, "privacy", "", "raw Privacy header value")
	fl.StringVar(&f.userAgent, "user-agent", "", "raw User-Agent header value")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "a SIP header as 'Name: value' (From, P-Asserted-Identity, Privacy, Remote-Party-ID, User-Agent, Identity); repeatable")
	fl.StringVar(&f.attestation, "attestation", "", "STIR/SHAKEN attestation Asterisk reported (A, B, C)")
	fl.StringVar(&f.verify, "verify-result", "", "STIR/SHAKEN verify_result Asterisk reported")
	fl.BoolVar(&f.asJSON, "json", false, "print the facts and verdict as JSON")
	return cmd
}

// facts builds the call facts the flags describe.
func (f *checkFlags) facts(number string) (*screening.Facts, error) {
	facts := &screening.Facts{
		ID:           "check",
		Time:         time.Now(),
		Number:       number,
		Name:         f.name,
		Presentation: f.pres,
		Called:       f.did,
		Trunk:        f.trunk,
		Source:       f.source,
		From:         f.from,
		PAI:          f.pai,
		Privacy:      f.privacy,
		RPID:         f.rpid,
		UserAgent:    f.userAgent,
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "from", "f":
			facts.From = value
		case "p-asserted-identity":
			facts.PAI = value
		case "privacy":
			facts.Privacy = value
		case "remote-party-id":
			facts.RPID = value
		case "user-agent":
			facts.UserAgent = value
		case "identity", "y":
			facts.Identity = value
		default:
			return nil, fmt.Errorf("--header %q: callscreen does not read %s; it reads From, P-Asserted-Identity, Privacy, Remote-Party-ID, User-Agent and Identity", h, strings.TrimSpace(name))
		}
	}
	if f.attestation != "" || f.verify != "" {
		facts.Stir = []screening.StirResult{{Attestation: f.attestation, VerifyResult: f.verify}}
	}
	return facts, nil
}

// printVerdict writes the verdict for a person: the call, the decision and
// a table of the evidence, ready to paste into a ticket.
func printVerdict(w io.Writer, f *screening.Facts, v *screening.Verdict, p *screening.Profile) {
	caller := v.Caller
	if caller == "" {
		caller = "(none)"
	}
	fmt.Fprintf(w, "Caller    %s", safe(caller))
	if v.CallerType != "" && v.CallerType != string(screening.TypeUnknown) {
		fmt.Fprintf(w, " (%s)", v.CallerType)
	}
	if f.Name != "" {
		fmt.Fprintf(w, " %q", f.Name)
	}
	fmt.Fprintln(w)
	called := f.Called
	if called == "" {
		called = "(any)"
	}
	fmt.Fprintf(w, "Called    %s, profile %s (%s)\n", safe(called), v.Profile, p.Country)
	if v.Closed != "" {
		fmt.Fprintf(w, "Hours     %s\n", v.Closed)
	}
	fmt.Fprintf(w, "Presence  %s\n", v.Presence)
	fmt.Fprintf(w, "Verdict   %s", strings.ToUpper(string(v.Action)))
	if v.Monitor {
		fmt.Fprintf(w, " (monitor mode: the call would ring)")
	}
	fmt.Fprintf(w, "\nScore     %d  (challenge >= %d, voicemail >= %d, reject >= %d)\n",
		v.Score, p.Thresholds.Challenge, p.Thresholds.Voicemail, p.Thresholds.Reject)
	fmt.Fprintf(w, "Reason    %s\n", safe(v.Reason))
	if v.Override != "" {
		fmt.Fprintf(w, "Override  %s\n", safe(v.Override))
	}
	if len(v.Findings) == 0 {
		fmt.Fprintln(w, "\nNo indicator fired.")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDICATOR\tWEIGHT\tEVIDENCE")
	for _, fd := range v.Findings {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", fd.Indicator, fd.Weight, safe(fd.Evidence))
	}
	tw.Flush()
}
