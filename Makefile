# callscreen build and test targets. `make test` is the one test command:
# it runs the unit tests, a bounded fuzzing pass and the end-to-end suite
# against a real Asterisk 22, installing Asterisk and sipp itself.

# A go command new enough for go.mod; installed on first use if missing.
GO        ?= $(shell integration/bootstrap-go.sh)
BIN       := bin/callscreen
FUZZTIME  ?= 10s
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build test unit lint fuzz integration bench demo clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/callscreen

## test: everything CI runs (unit, fuzz, integration on a real Asterisk).
test: lint unit fuzz integration

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The end-to-end packages under integration/ run in `make integration`.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/integration')

## fuzz: each fuzz target for $(FUZZTIME) against its committed corpus.
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./screening/ | grep '^Fuzz'); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./screening/ || exit 1; \
	done

## integration: installs Asterisk 22 (cached chroot) and sipp, then places
## real SIP calls through callscreen.
integration: build
	integration/asterisk/install.sh
	CALLSCREEN_INTEGRATION=1 $(GO) test -count=1 -v -timeout 40m ./integration/...

## bench: engine benchmarks (1 M and 10 M list entries, busy velocity).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./screening/

clean:
	rm -rf bin
