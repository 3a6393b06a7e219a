# Avanti — two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$(PATH)

DB_PORT ?= 3307
LISTEN  ?= 127.0.0.1:8080
# The private MariaDB started by scripts/devdb; point these elsewhere to use
# another server (MariaDB >= 10.6 or MySQL >= 8.0).
export AVANTI_DSN      ?= avanti:avanti@tcp(127.0.0.1:$(DB_PORT))/avanti
export AVANTI_TEST_DSN ?= avanti:avanti@tcp(127.0.0.1:$(DB_PORT))/
export AVANTI_LISTEN   ?= $(LISTEN)
export AVANTI_DB_PORT  := $(DB_PORT)
export GOFLAGS         ?= -buildvcs=false

BIN := bin/avanti
FUZZTIME ?= 20s

.PHONY: run test bench fuzz db stop build deps vet clean assets

## run: install what is missing, start the private MariaDB, migrate, load the demo, serve on $(LISTEN)
run: build db
	$(BIN) migrate
	$(BIN) demo --if-empty
	$(BIN) serve

## test: go vet and every test (integration tests against the private MariaDB), race detector on
test: deps assets db
	go vet ./...
	go test -race -count=1 -timeout 20m ./...

## bench: the booking, call-next and availability benchmarks against the private MariaDB
bench: deps db
	go run ./appliance/cmd/avanti-bench
	go run ./appliance/cmd/avanti-fanout

## fuzz: run each fuzz target for $(FUZZTIME)
fuzz: deps
	go test -run='^$$' -fuzz=FuzzValidate -fuzztime=$(FUZZTIME) ./appliance/fiscalcode/
	go test -run='^$$' -fuzz=FuzzDecodeBooking -fuzztime=$(FUZZTIME) ./appliance/api/
	go test -run='^$$' -fuzz=FuzzParseScannerInput -fuzztime=$(FUZZTIME) ./appliance/scan/
	go test -run='^$$' -fuzz=FuzzDecodeImageBytes -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./appliance/scan/

build: deps assets
	go build -o $(BIN) ./appliance/cmd/avanti

deps:
	@command -v go >/dev/null || { echo "Go is required (https://go.dev/dl, or Debian's golang package)"; exit 1; }
	scripts/debdeps
	go mod download

db:
	scripts/devdb start

# assets: the browser assets that come from npm (the display font), copied
# into signage/static/vendor/ for go:embed; npm ci only when the lock changed.
assets: deps
	scripts/assets

## stop: stop the private MariaDB
stop:
	scripts/devdb stop

clean: stop
	rm -rf bin var
