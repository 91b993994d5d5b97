# mailgate — see README.md
GO       ?= go
DATA     ?= ./data
BIN      := bin/mailgate
FUZZTIME ?= 20s

.PHONY: run build test check bench rss fuzz e2e imaptest screenshot screenshots-admin clean

## run: start the server on the default ports with the demo tenant (data in ./data)
run: build
	$(BIN) serve --demo --data $(DATA)

## build: compile bin/mailgate
build:
	$(GO) build -o $(BIN) ./cmd/mailgate

## test: the whole test suite: Go tests (race detector), the end-to-end suite, then imaptest
test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 20m ./...
	$(MAKE) e2e
	$(MAKE) imaptest

## e2e: the real binary driven by swaks, curl, imaplib/smtplib, mutt, mbsync and Thunderbird: one node
## on the embedded database (run.sh), then two nodes on one PostgreSQL of their own (nodes.sh), then
## calendars with curl, vdirsyncer and khal (dav.sh); all always run, and any failing fails
e2e: build
	@rc=0; testdata/e2e/run.sh $(BIN) || rc=1; testdata/e2e/nodes.sh $(BIN) || rc=1; testdata/e2e/dav.sh $(BIN) || rc=1; exit $$rc

## imaptest: Dovecot's imaptest conformance scripts against the real binary (IMAPTEST=path/to/imaptest,
## default ../shared/tools/imaptest/imaptest; at least IMAPTEST_MIN_PASS=67 of 71 must pass)
imaptest: build
	testdata/imaptest/run.sh $(BIN)

## check: formatting, vet and staticcheck
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...

## bench: benchmarks (bounded)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 20m ./...

## rss: the standard load (testdata/bench/loads.sh, one 10 s run of each load on the 10k corpus), then
## the server's RSS after it and with 100 idle IMAP sessions; fails if either is over RSS_MAX MiB.
## CACHE_SIZE=256MiB passes --cache-size. Takes a few minutes; not part of `make test`.
RSS_MAX ?= 150
rss:
	@out=$$(mktemp -d "$${TMPDIR:-/tmp}/mailgate-rss.XXXXXX"); \
	RUNS=$${RUNS:-1} DURATION=$${DURATION:-10s} WARMUP=$${WARMUP:-5s} testdata/bench/loads.sh $$out > /dev/null || exit 1; \
	cat $$out/mailgate/summary.md; \
	for v in $$(sed -n 's/.*: \([0-9][0-9]*\) MiB (anon.*/\1/p' $$out/rss.txt); do \
	  [ "$$v" -le $(RSS_MAX) ] || { echo "rss: $$v MiB is over RSS_MAX=$(RSS_MAX) MiB (results in $$out)"; exit 1; }; \
	done; \
	[ $$(grep -c 'MiB (anon' $$out/rss.txt) = 2 ] || { echo "rss: no figures in $$out/rss.txt"; exit 1; }; \
	echo "rss: within $(RSS_MAX) MiB (results in $$out)"

## fuzz: each fuzz target for FUZZTIME (default 20s)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

## screenshot: redo docs/thunderbird-delegated-inbox.png (real Thunderbird under Xvfb against serve --demo)
screenshot: build
	@d=$$(mktemp -d); $(BIN) serve --demo --data $$d/data --insecure-auth --submission-addr "" --submissions-addr "" \
	  --mx-addr "" --imaps-addr "" --metrics-addr "" --admin-http-addr "" --dav-addr "" --imap-addr 127.0.0.1:21143 >$$d/banner 2>$$d/log & pid=$$!; \
	for i in $$(seq 50); do grep -q '^mailgate is running' $$d/banner 2>/dev/null && break; sleep 0.2; done; \
	IMAP_HOST=127.0.0.1 IMAP_PORT=21143 IMAP_TLS=none USER=bob@example.test OWNER=alice@example.test \
	  PASS=$$(awk '$$1=="bob@example.test"{print $$2}' $$d/data/demo-logins.txt) \
	  SCREENSHOT=docs/thunderbird-delegated-inbox.png testdata/e2e/thunderbird.sh; rc=$$?; \
	kill $$pid; wait $$pid; rm -rf $$d; exit $$rc

## screenshots-admin: redo docs/admin-*.png (the web admin center's permissions flow in headless chromium)
screenshots-admin:
	MAILGATE_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run '^TestWebAdminBrowser$$' ./cmd/mailgate
