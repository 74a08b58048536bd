# swift-deferreds: the commands the README names.
#   make test            build and run the whole test suite (what CI runs)
#   make demo            getpage's demo: 20 pages from the built-in server, at most 2 at a time
#   make demo-chaining   the narrated deferred-chaining example (no network)
#   make getpage         a release getpage (and blog-example) with the Swift runtime linked in (.build-static)
#   make bench-deferred  Deferreds micro-benchmarks against Twisted, in one run (release build)
#   make bench-pages     getpage against curl, wrk, Twisted, treq and aiohttp on a private nginx
#   make bench-stream    one 256 MiB body to /dev/null: getpage, curl, Twisted
#   make bench-memory    1,000,000 URLs at C = 100 through getpage: peak RSS and growth
#   make bench-hosts     2,000 URLs over 500 host names behind a slow DNS server: getpage, curl,
#                        aiohttp, Twisted (root: a DNS server on port 53 in a mount namespace)
#   make bench-tls       getpage over https against curl (h2 and HTTP/1.1) on a private nginx with TLS
#   make bench           all of the above and bench-reactor (see Benchmarks/README.md)
#   make bench-smoke     the HTTP harness end to end in under a minute, as CI runs it
#   make test-asan       the test suite under AddressSanitizer + LeakSanitizer (scratch: .build-asan)
#   make test-tsan       the test suite under ThreadSanitizer (scratch: .build-tsan)
#   make soak            getpage against the WebServer with 10 % faults for SOAK_SECONDS (300)
#   make bench-async     await / Task round trips beside the callback style (release build)
#   make fuzz            the libFuzzer targets, FUZZ_SECONDS (60) each, from Fuzz/corpus (Fuzz/README.md)
#   make docs            every DocC catalog, warnings as errors, and every tutorial listing compiled
#   make docs-site       the catalogs as static websites in docs-out/ (python3 -m http.server -d docs-out)

SWIFT ?= swift
# Debian packages the build needs (nginx-light: the HTTP/2 test's server; curl: bench-smoke's peer;
# tinyproxy: the proxy tests' proxy; openssl: the TLS tests' server and certificates, which are
# skipped without it; python3: bench-smoke's harness; libc-ares-dev: name resolution on the
# reactor). .ci/run's packages= line is the same list.
APT_PACKAGES := libcurl4-openssl-dev zlib1g-dev nginx-light curl tinyproxy openssl python3 libc-ares-dev libssl-dev

.PHONY: test demo demo-chaining deps getpage bench bench-deferred bench-reactor bench-pages bench-stream bench-memory bench-hosts \
	test-asan test-tsan soak bench-async fuzz docs docs-site bench-tls

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The sanitized suites: everything (getpage and blog-example, which the tests run as child
# processes, and the exit tests' child) is built with the sanitizer and inherits these options.
# LeakSanitizer's suppressions (.ci/lsan.supp) cover only XCTest's runner and Swift's weak side
# tables; SWIFT_BACKTRACE=enable=no keeps Swift's backtracer out of the sanitizers' way.
SANITIZER_ENV := SWIFT_BACKTRACE=enable=no
ASAN_ENV := $(SANITIZER_ENV) ASAN_OPTIONS=detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp:print_suppressions=0
TSAN_ENV := $(SANITIZER_ENV) TSAN_OPTIONS=second_deadlock_stack=1

test-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	$(ASAN_ENV) $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

test-tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(TSAN_ENV) $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

SOAK_SECONDS ?= 300

soak: deps
	$(SWIFT) build -c release --product getpage
	python3 Benchmarks/scripts/soak.py --seconds $(SOAK_SECONDS) \
		--getpage "$$($(SWIFT) build -c release --show-bin-path)/getpage"

demo: deps
	$(SWIFT) run getpage

# The binaries to deploy and to benchmark: release, with the Swift runtime linked statically, so
# they start faster, map less (peak RSS 3.5 MiB lower) and need only libcurl at run time.
STATIC_BUILD := $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static
getpage: deps
	$(STATIC_BUILD) --product getpage
	$(STATIC_BUILD) --product blog-example
	@echo "getpage: $$($(STATIC_BUILD) --show-bin-path)/getpage"

demo-chaining:
	$(SWIFT) run deferred-chaining

bench: bench-deferred bench-reactor bench-async bench-pages bench-stream bench-memory

# HTTP benchmarks: Benchmarks/scripts/http_bench.sh installs what it needs, builds getpage and
# blog-example (unless GETPAGE / BLOG_EXAMPLE are set) and runs its own nginx.
bench-pages bench-stream bench-memory: deps
	SWIFT="$(SWIFT)" Benchmarks/scripts/http_bench.sh $(@:bench-%=%)

# Many host names behind the benchmark's own DNS server (Benchmarks/scripts/hosts_bench.sh).
bench-hosts: deps
	SWIFT="$(SWIFT)" Benchmarks/scripts/hosts_bench.sh

# HTTPS: Benchmarks/scripts/tls_bench.py makes its own CA, pages and nginx (TLS + h2) in a private
# folder. BENCH_TLS_PEERS=1 adds aiohttp (from Benchmarks/.venv); BENCH_TLS_BASELINE=BIN another getpage.
# As root it adds the many-names runs (BENCH_TLS_NAMES, "500 5000": a DNS server of its own, unshare -m).
bench-tls: deps
	$(STATIC_BUILD) --product getpage
	@mkdir -p Benchmarks/results
	python3 Benchmarks/scripts/tls_bench.py --getpage "$$($(STATIC_BUILD) --show-bin-path)/getpage" \
		$$( [ "$${BENCH_TLS_PEERS:-0}" = 1 ] && echo --peers "$$(Benchmarks/scripts/venv.sh)" ) \
		$${BENCH_TLS_BASELINE:+--baseline "$${BENCH_TLS_BASELINE}"}

# The same harness end to end in under a minute (CI runs it): its own nginx, 1,000 pages, getpage
# (the debug build make test leaves in .build) and curl --parallel, one run each; no venv.
.PHONY: bench-smoke
bench-smoke: deps
	SWIFT="$(SWIFT)" Benchmarks/scripts/http_bench.sh smoke

FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) Fuzz/run

bench-deferred:
	$(SWIFT) build -c release --product deferred-bench
	@mkdir -p Benchmarks/results
	@PY="$$(Benchmarks/scripts/venv.sh)" && \
	echo "== swift-deferreds (release) ==" >&2 && \
	.build/release/deferred-bench --repeat $${BENCH_REPEAT:-3} | tee Benchmarks/results/deferreds-swift.jsonl >&2 && \
	echo "== Twisted (this may take two minutes: its runner is quadratic on 1,000,000 callbacks) ==" >&2 && \
	"$$PY" Benchmarks/peers/twisted_defer.py --repeat $${BENCH_REPEAT:-3} --full-many | tee Benchmarks/results/deferreds-twisted.jsonl >&2 && \
	python3 Benchmarks/scripts/compare.py --title "Deferreds: swift-deferreds vs Twisted" \
		Benchmarks/results/deferreds-swift.jsonl Benchmarks/results/deferreds-twisted.jsonl \
		| tee Benchmarks/results/deferreds.md

bench-reactor:
	$(SWIFT) build -c release --product reactor-bench
	@mkdir -p Benchmarks/results
	@BIN="$$($(SWIFT) build -c release --show-bin-path)" && PY="$$(Benchmarks/scripts/venv.sh)" && \
	echo "== swift-deferreds reactor (release) ==" >&2 && \
	"$$BIN/reactor-bench" --repeat $${BENCH_REPEAT:-3} > Benchmarks/results/reactor-swift.jsonl && \
	cat Benchmarks/results/reactor-swift.jsonl >&2 && \
	echo "== Twisted epollreactor + task.Clock (about two minutes: a process per repetition) ==" >&2 && \
	"$$PY" Benchmarks/peers/twisted_reactor.py --repeat $${BENCH_REPEAT:-3} > Benchmarks/results/reactor-twisted.jsonl && \
	cat Benchmarks/results/reactor-twisted.jsonl >&2 && \
	python3 Benchmarks/scripts/compare_reactor.py --title "Reactor: swift-deferreds vs Twisted" \
		Benchmarks/results/reactor-swift.jsonl Benchmarks/results/reactor-twisted.jsonl \
		| tee Benchmarks/results/reactor.md

bench-async:
	$(SWIFT) build -c release --product async-bench
	@mkdir -p Benchmarks/results
	@BIN="$$($(SWIFT) build -c release --show-bin-path)" && \
	echo "== swift-deferreds: async/await beside callbacks (release) ==" >&2 && \
	"$$BIN/async-bench" --repeat 3 --markdown Benchmarks/results/async.md | tee Benchmarks/results/async-swift.jsonl >&2 && \
	cat Benchmarks/results/async.md

# Documentation: the four DocC catalogs (Sources/*/*.docc) through swift-docc-plugin, warnings as
# errors (a broken link, an undocumented parameter), after compiling every listing of the tutorial
# (Scripts/check-tutorial-listings.sh). The tutorial lives in the Deferreds catalog.
DOC_TARGETS := Deferreds Reactor WebAgent WebServer
docs: deps
	$(SWIFT) build
	SWIFT=$(SWIFT) Scripts/check-tutorial-listings.sh
	$(SWIFT) package --disable-sandbox generate-documentation $(DOC_TARGETS:%=--target %) --warnings-as-errors

docs-site: deps
	@mkdir -p docs-out
	for t in $(DOC_TARGETS); do \
		$(SWIFT) package --disable-sandbox --allow-writing-to-directory docs-out generate-documentation \
			--target $$t --transform-for-static-hosting --output-path docs-out/$$t \
			--hosting-base-path $$t || exit 1; \
	done
	@echo "docs-out/: python3 -m http.server -d docs-out, then open http://127.0.0.1:8000/Deferreds/tutorials/downloadmanypages"
