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
	scripts/image/shellcheck
	go test -race -count=1 -timeout 20m ./...
	cd packer && go vet ./... && go test -count=1 ./...

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
	go test -run='^$$' -fuzz=FuzzSettingsFile -fuzztime=$(FUZZTIME) ./appliance/sysconf/

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

# ---- The appliance image with Packer (packer/README.md) ----
# Packer is pinned to 1.9.4, the last release under the MPL 2.0 (1.10 and
# later are under the BUSL), and built from the Go module proxy.
PACKER_VERSION := 1.9.4
IMAGE_VERSION  ?= dev
PACKER_ENV     := PACKER_PLUGIN_PATH=$(CURDIR)/bin CHECKPOINT_DISABLE=1

.PHONY: packer packer-sdc packer-plugin packer-generate packer-validate packer-plugin-test packer-image

## packer: bin/packer, Packer 1.9.4 built from source (about 7 minutes the first time; kept afterwards)
packer:
	@if CHECKPOINT_DISABLE=1 bin/packer version 2>/dev/null | head -1 | grep -qx 'Packer v$(PACKER_VERSION)'; then \
		echo "bin/packer is Packer v$(PACKER_VERSION)"; \
	else \
		echo "building Packer v$(PACKER_VERSION) into bin/packer (about 7 minutes the first time)"; \
		cd tools/packer && go build -o ../../bin/packer github.com/hashicorp/packer; \
	fi

## packer-sdc: bin/packer-sdc, the plugin SDK's code generator, at the SDK version the plugin uses
packer-sdc:
	cd packer && go build -o ../bin/packer-sdc github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc

## packer-plugin: bin/packer-plugin-avanti, the provisioner "avanti" and post-processor "avanti-export"
packer-plugin:
	cd packer && go build -o ../bin/packer-plugin-avanti .

## packer-generate: regenerate the plugin's HCL2 specs (*.hcl2spec.go) after a Config changes
packer-generate: packer-sdc
	cd packer && PATH=$(CURDIR)/bin:$$PATH go generate ./...

## packer-validate: packer validate packer/avanti.pkr.hcl with the plugin
packer-validate: packer packer-plugin
	$(PACKER_ENV) bin/packer validate -syntax-only packer/avanti.pkr.hcl
	@if [ -s var/image/base.qcow2 ] && [ -s var/image/build_ed25519 ] && [ -x bin/avanti ] && [ -f provisioning/setup.sh ]; then \
		$(PACKER_ENV) bin/packer validate packer/avanti.pkr.hcl; \
	else echo "packer-validate: syntax only (full validation needs bin/avanti, provisioning/setup.sh and scripts/image/mkbase's output)"; fi

## packer-plugin-test: the plugin under a real Packer (packer build of small templates)
packer-plugin-test: deps packer
	cd packer && AVANTI_PACKER=$(CURDIR)/bin/packer go test -count=1 -v -run 'TestPlugin|TestPacker' ./packertest/

## packer-image: provision var/image/base.qcow2 with Packer and export var/image/out/ (IMAGE_VERSION=…)
packer-image: build packer packer-plugin
	rm -rf var/image/build
	scripts/debdeps image
	$(PACKER_ENV) bin/packer build -force -color=false -var version=$(IMAGE_VERSION) \
		-var accelerator=$$(scripts/image/accel) packer/avanti.pkr.hcl

## image: the appliance image end to end: the base disk from Debian's packages, then Packer provisions it and exports var/image/out/ (qcow2, OVA, VHDX; tens of minutes under software emulation)
.PHONY: image image-test
image: image-base packer-image

## image-test: boot var/image/out/avanti-$(IMAGE_VERSION).qcow2 in QEMU, first-boot setup with the console's code, ticket → desk → display against the VM; prints boot-to-ready time and file sizes
image-test: deps
	IMAGE_VERSION=$(IMAGE_VERSION) scripts/image/image-test

# ---- The VM image's base disk and scripts (scripts/image/, provisioning/) ----
.PHONY: image-base shellcheck

## image-base: var/image/base.qcow2 + build key, Debian 12 from Debian's packages only (mmdebstrap, systemd-boot/UEFI), boot-tested in QEMU (root; ~5 minutes + the boot)
image-base:
	scripts/image/mkbase
	scripts/image/boot-test var/image/base.qcow2

## shellcheck: shellcheck the provisioning bundle and the image scripts (part of make test)
shellcheck:
	scripts/image/shellcheck
