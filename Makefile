# panic-gateway — the two commands that matter are `make demo` and `make test`.
# Each installs what it needs on a fresh Debian 12 (as root, or with sudo).

SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv-test
PY := $(VENV)/bin/python
BIN := .build/debug

# Debian packages: C libraries the gateway links, tools the tests drive.
APT_PACKAGES := libgpiod-dev libudev-dev gpiod udev socat libsqlite3-dev sqlite3 openssl python3 python3-venv \
	dpkg-dev patchelf binutils debootstrap strace python3-seccomp util-linux postgresql-15 postgresql-client-15 chromium chromium-driver
# Python packages for test peers (independent implementations).
PY_PACKAGES := pytest selenium==4.51.0 http-message-signatures requests cryptography pymodbus==3.16.1 pyserial==3.5 pysiaalarm==3.2.2 psycopg[binary]==3.2.13

.PHONY: all check-swift deps build demo test test-swift test-integration test-deploy check-libgpiod2 check-udev-rules hil hil-long deb bench fuzz test-fuzz clean

all: build

## check-swift: stop at once, saying what to install, when Swift 6 is not there
check-swift:
	@command -v $(SWIFT) >/dev/null 2>&1 || { \
		echo "make: Swift 6.0 or later is needed, and '$(SWIFT)' is not on the PATH."; \
		echo "      Install a Swift 6 toolchain for Debian 12 (this project is built and tested with 6.3.1; the build"; \
		echo "      machines have it in /opt/swift/usr/bin) and add its usr/bin to PATH, or run: make SWIFT=/path/to/swift"; \
		exit 127; } >&2
	@$(SWIFT) --version 2>/dev/null | grep -Eq 'Swift version ([6-9]|[1-9][0-9])\.' || { \
		echo "make: '$(SWIFT)' is not Swift 6.0 or later ($$($(SWIFT) --version 2>&1 | head -n 1)); install Swift 6 (6.3.1 is what this project is tested with)."; \
		exit 127; } >&2

## deps: install Debian and Python packages that are missing (idempotent)
deps: .build/.deps-apt $(VENV)/.deps-py

.build/.deps-apt: scripts/install-deps.sh Makefile
	@mkdir -p .build
	@bash scripts/install-deps.sh $(APT_PACKAGES)
	@touch $@

$(VENV)/.deps-py: .build/.deps-apt Makefile
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check $(PY_PACKAGES)
	@touch $@

build: check-swift deps
	$(SWIFT) build

## demo: a receiver and a gateway on loopback, simulated presses, an outage
demo: check-swift build
	$(BIN)/panic-gateway demo

## test: unit and end-to-end tests in Swift, then integration tests in Python
test: check-swift deps
	$(SWIFT) build --build-tests
	@set -e; t0=$$(date +%s); for t in test-swift test-integration test-deploy check-libgpiod2 check-udev-rules test-fuzz hil; do \
		s=$$(date +%s); $(MAKE) --no-print-directory $$t; echo "make test: $$t passed in $$(( $$(date +%s) - s )) s"; done; \
		echo "make test: all stages passed in $$(( $$(date +%s) - t0 )) s (after the build)"

# One test at a time: a few time-driven tests (the watchdog's) still run on
# the real clock, and parallel tests doing seconds of synchronous SQLite work
# starve them of the two cooperative threads. ~60 s instead of ~30 s.
test-swift:
	$(SWIFT) test --skip-build --no-parallel

test-integration:
	PANIC_BIN_DIR=$(CURDIR)/$(BIN) $(PY) -m pytest -q Tests/integration

## test-deploy: the .deb installed into a clean Debian 12 root; units verified and scored
test-deploy:
	PANIC_DEB_BIN_DIR=$(CURDIR)/$(BIN) $(PY) -m pytest -q Tests/deploy

## fuzz: every parser under libFuzzer + ASan, 60 s each (FUZZ_SECONDS=N to change); crashes land in fuzz/regressions/
FUZZ_SECONDS ?= 60
fuzz: check-swift deps
	SWIFT=$(SWIFT) bash scripts/fuzz.sh all --seconds $(FUZZ_SECONDS)

## test-fuzz: part of make test: the committed regressions and seeds, then 10 s of fuzzing per harness (make fuzz: 60 s)
test-fuzz:
	SWIFT=$(SWIFT) bash scripts/fuzz.sh all --seconds 10

## deb: the Debian package from a release build, into .build/deb
deb: check-swift deps
	$(SWIFT) build -c release
	bash scripts/build-deb.sh --bin-dir .build/release --out .build/deb

## check-libgpiod2: the GPIO shim compiles and links against Debian 13's libgpiod 2.x
check-libgpiod2:
	bash scripts/check-libgpiod2.sh

## check-udev-rules: udevadm parses udev/*.rules without complaint
check-udev-rules:
	bash scripts/check-udev-rules.sh

## hil: Debian's kernel in QEMU with gpio-sim and an emulated FTDI adapter; the gateway against real kernel stacks
hil:
	bash hil/prepare.sh
	HIL_GATEWAY_BIN=$(CURDIR)/$(BIN)/panic-gateway HIL_RECEIVER_BIN=$(CURDIR)/$(BIN)/panic-receiver HIL_PANICCTL_BIN=$(CURDIR)/$(BIN)/panicctl bash hil/run.sh

## hil-long: the appliance's power-cut scenario with 50 cuts (make test runs 10)
hil-long:
	bash hil/prepare.sh
	HIL_POWER_CUTS=50 HIL_GATEWAY_BIN=$(CURDIR)/$(BIN)/panic-gateway HIL_RECEIVER_BIN=$(CURDIR)/$(BIN)/panic-receiver HIL_PANICCTL_BIN=$(CURDIR)/$(BIN)/panicctl bash hil/run.sh appliance-power-cuts

## bench: release build; latency and throughput with percentiles
bench: check-swift deps
	$(SWIFT) build -c release
	.build/release/panic-bench
	PANIC_BIN_DIR=$(CURDIR)/.build/release $(PY) -m pytest -q -s Tests/integration/bench_console.py

clean:
	rm -rf .build $(VENV)
