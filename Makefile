# swift-deferreds: the commands the README names.
#   make test            build and run the whole test suite (what CI runs)
#   make demo            getpage's demo: 20 pages from the built-in server, at most 2 at a time
#   make demo-chaining   the narrated deferred-chaining example (no network)
#   make bench-deferred  Deferreds micro-benchmarks against Twisted, in one run (release build)
#   make fuzz            the libFuzzer targets, FUZZ_SECONDS (60) each, from Fuzz/corpus (Fuzz/README.md)

SWIFT ?= swift
# Debian packages the build needs (nginx-light: the HTTP/2 test's server).
APT_PACKAGES := libcurl4-openssl-dev zlib1g-dev nginx-light

.PHONY: test demo demo-chaining deps bench bench-deferred bench-reactor fuzz

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: deps
	$(SWIFT) run getpage

demo-chaining:
	$(SWIFT) run deferred-chaining

FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) Fuzz/run

bench: bench-deferred bench-reactor

bench-deferred:
	$(SWIFT) build -c release --product deferred-bench
	@mkdir -p Benchmarks/results
	@PY="$$(Benchmarks/scripts/venv.sh)" && \
	echo "== swift-deferreds (release) ==" >&2 && \
	.build/release/deferred-bench --repeat 3 | tee Benchmarks/results/deferreds-swift.jsonl >&2 && \
	echo "== Twisted (this may take two minutes: its runner is quadratic on 1,000,000 callbacks) ==" >&2 && \
	"$$PY" Benchmarks/peers/twisted_defer.py --repeat 3 --full-many | tee Benchmarks/results/deferreds-twisted.jsonl >&2 && \
	python3 Benchmarks/scripts/compare.py --title "Deferreds: swift-deferreds vs Twisted" \
		Benchmarks/results/deferreds-swift.jsonl Benchmarks/results/deferreds-twisted.jsonl \
		| tee Benchmarks/results/deferreds.md

bench-reactor:
	$(SWIFT) build -c release --product reactor-bench
	@mkdir -p Benchmarks/results
	@BIN="$$($(SWIFT) build -c release --show-bin-path)" && PY="$$(Benchmarks/scripts/venv.sh)" && \
	echo "== swift-deferreds reactor (release) ==" >&2 && \
	"$$BIN/reactor-bench" --repeat 3 > Benchmarks/results/reactor-swift.jsonl && \
	cat Benchmarks/results/reactor-swift.jsonl >&2 && \
	echo "== Twisted epollreactor + task.Clock (about two minutes: a process per repetition) ==" >&2 && \
	"$$PY" Benchmarks/peers/twisted_reactor.py --repeat 3 > Benchmarks/results/reactor-twisted.jsonl && \
	cat Benchmarks/results/reactor-twisted.jsonl >&2 && \
	python3 Benchmarks/scripts/compare_reactor.py --title "Reactor: swift-deferreds vs Twisted" \
		Benchmarks/results/reactor-swift.jsonl Benchmarks/results/reactor-twisted.jsonl \
		| tee Benchmarks/results/reactor.md
