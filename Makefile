# mailgate — see README.md
GO       ?= go
DATA     ?= ./data
BIN      := bin/mailgate
FUZZTIME ?= 20s

.PHONY: run build test check bench fuzz e2e clean

## run: start the server on the default ports with the demo tenant (data in ./data)
run: build
	$(BIN) serve --demo --data $(DATA)

## build: compile bin/mailgate
build:
	$(GO) build -o $(BIN) ./cmd/mailgate

## test: the whole test suite: Go tests (race detector) then the end-to-end suite
test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 20m ./...
	$(MAKE) e2e

## e2e: the real binary driven by swaks, curl, imaplib/smtplib, mutt and mbsync
e2e: build
	testdata/e2e/run.sh $(BIN)

## check: formatting, vet and staticcheck
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...

## bench: benchmarks (bounded)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 20m ./...

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
