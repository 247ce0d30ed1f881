# callscreen build and test targets. `make test` is the one test command:
# it runs the unit tests, a bounded fuzzing pass and the end-to-end suite
# against a real Asterisk 22, installing Asterisk and sipp itself.

# A go command new enough for go.mod; installed on first use if missing.
GO        ?= $(shell integration/bootstrap-go.sh)
BIN       := bin/callscreen
# The version stamped into the binary and the package (packaging/version.sh).
VERSION   ?= $(shell packaging/version.sh)
LDFLAGS   := -X main.version=$(VERSION)
# make deb: the architectures built; make install: where.
DEB_ARCHS ?= amd64 arm64
PREFIX    ?= /usr/local
FUZZTIME  ?= 30000x
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build deb install test unit lint fuzz integration faults bench loadtest demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/callscreen

## deb: bin/callscreen_<version>_<arch>.deb for each of $(DEB_ARCHS)
## (dpkg-deb; see packaging/README.md).
deb:
	@for a in $(DEB_ARCHS); do \
		GO=$(GO) packaging/build-deb.sh $$a '$(VERSION)' bin || exit 1; \
	done

## install: without a package manager: the binary in $(PREFIX)/bin, the
## sample configuration, the unit (its ExecStart pointing there), the
## prompts and the manual page; then what the package's postinst does (user,
## secrets, prompt links). DESTDIR is honoured.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/callscreen
	install -d -m 0750 $(DESTDIR)/etc/callscreen
	[ -e $(DESTDIR)/etc/callscreen/callscreen.yaml ] || \
		install -m 0640 asterisk-conf/callscreen.yaml $(DESTDIR)/etc/callscreen/callscreen.yaml
	sed 's#^ExecStart=/usr/bin/#ExecStart=$(PREFIX)/bin/#' asterisk-conf/callscreen.service | \
		install -D -m 0644 /dev/stdin $(DESTDIR)/etc/systemd/system/callscreen.service
	cd asterisk-conf/sounds && find en ja -type f -name '*.wav' -exec \
		install -D -m 0644 {} $(DESTDIR)/usr/share/callscreen/sounds/{} \;
	for f in asterisk-conf/*.conf asterisk-conf/README.md asterisk-conf/freepbx/extensions_custom.conf; do \
		install -D -m 0644 $$f $(DESTDIR)/usr/share/callscreen/$$f || exit 1; \
	done
	$(BIN) man | gzip -9n | install -D -m 0644 /dev/stdin $(DESTDIR)$(PREFIX)/share/man/man1/callscreen.1.gz
	[ -n "$(DESTDIR)" ] || sh packaging/debian/postinst configure

## test: everything CI runs (unit, fuzz, integration on a real Asterisk).
test: lint unit fuzz integration

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The end-to-end packages under integration/ run in `make integration`.
# PostgreSQL 15's binaries (integration/postgres/install.sh) let the
# PostgreSQL store's tests run their own throwaway clusters
# (internal/pgtest); CALLSCREEN_REQUIRE_POSTGRES=1 makes a missing
# PostgreSQL fail those tests instead of skipping them.
unit:
	integration/postgres/install.sh
	CALLSCREEN_REQUIRE_POSTGRES=1 $(GO) test -count=1 $$($(GO) list ./... | grep -v '/integration')
	@echo "the store's suite again, against PostgreSQL:"
	CALLSCREEN_REQUIRE_POSTGRES=1 CALLSCREEN_STORE_BACKEND=postgres $(GO) test -count=1 ./screening/store/

## fuzz: every Fuzz target of every package (outside integration/) for
## $(FUZZTIME) each, against its committed corpus (testdata/fuzz). A
## crasher fails the run and is saved under testdata/fuzz: commit it as a
## regression seed. The budget is an execution count, not a duration: Go
## 1.26's fuzz coordinator can report a spurious "context deadline
## exceeded" when a duration budget ends under CPU load (go.dev/issue/75804).
## Eight targets: about 2 minutes at the default 30000x.
fuzz:
	@targets=$$($(GO) test -list '^Fuzz' $$($(GO) list ./... | grep -v '/integration') | \
		awk '/^Fuzz/ {f[n++]=$$1; next} /^(ok|\?|FAIL) / {for (i = 0; i < n; i++) print $$2 "@" f[i]; n = 0}'); \
	if [ -z "$$targets" ]; then echo "no fuzz targets found"; exit 1; fi; \
	for pt in $$targets; do \
		pkg=$${pt%@*}; t=$${pt#*@}; \
		echo "fuzz $$pkg $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

## integration: installs Asterisk 22 (cached chroot), sipp and PostgreSQL
## 15, then places real SIP calls through callscreen.
integration: build
	integration/asterisk/install.sh
	integration/postgres/install.sh
	CALLSCREEN_REQUIRE_POSTGRES=1 CALLSCREEN_INTEGRATION=1 $(GO) test -count=1 -v -timeout 40m ./integration/...

## faults: fault injection under 20 calls/s (about 20 minutes, not part of
## `make test`): callscreen SIGKILLed and restarted, Asterisk restarted,
## the call log's disk filled up, a 3 M-line import while the dashboard
## blocks numbers; bursts of 50 simultaneous calls through
## ARI and FastAGI, then a soak of mixed bursts for CALLSCREEN_SOAK
## (default 10m; `make integration` runs it for 1m). See docs/RELIABILITY.md.
faults: build
	integration/asterisk/install.sh
	CALLSCREEN_INTEGRATION=1 CALLSCREEN_FAULTS=1 $(GO) test -count=1 -v -timeout 40m -run '^TestFaults$$' ./integration/

## bench: engine benchmarks (1 M and 10 M list entries, busy velocity).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./screening/

## loadtest: sipp load against the real Asterisk with and without
## screening (baseline, ARI, FastAGI, challenge at rising call rates), plus
## the engine benchmarks; rewrites the results in docs/BENCHMARKS.md.
## LOADTEST_FLAGS=-quick for a smoke run (see docs/BENCHMARKS.md).
LOADTEST_FLAGS ?= -bench -doc docs/BENCHMARKS.md
loadtest: build
	integration/asterisk/install.sh
	$(GO) run ./integration/cmd/loadtest -bin $(BIN) $(LOADTEST_FLAGS)

## demo: on a fresh Debian machine (root, Go): installs Asterisk 22 and
## sipp, starts Asterisk with asterisk-conf/, a sipp desk phone and
## callscreen serve with the sample callscreen.yaml, places a few
## representative calls, prints what happened to each and keeps running
## (dashboard http://127.0.0.1:8090/) until Ctrl-C. DEMO_FLAGS=-once exits
## after the table.
DEMO_FLAGS ?=
demo: build
	$(GO) run ./integration/cmd/demo -bin $(BIN) $(DEMO_FLAGS)

clean:
	rm -rf bin
