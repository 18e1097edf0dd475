# recd — build, test, run. `make` builds build/recd; `make test` builds a sanitized copy and runs
# every test; `make run` serves a demo. Each of them first installs what is missing (`make deps`).

CC       ?= cc
PKGS     := sqlite3 sndfile libcrypto libre spandsp
PKGS     += libmpg123 soxr espeak-ng
WARN     := -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
# libre's headers are not self-contained and not -Wconversion clean: -isystem silences them, and
# HAVE_INTTYPES_H gives re_types.h the fixed-width types it expects.
RE_CFLAGS := -isystem /usr/include/re -DHAVE_INTTYPES_H
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Isrc $(RE_CFLAGS) $(WARN) $(EXTRA_CFLAGS)
LDLIBS   := -lhttp_parser -lsqlite3 -lsndfile -lmp3lame -lcrypto -lexpat -lre -lpthread -lm
# libcurl, libpq, espeak-ng, spandsp and PocketSphinx are not linked: recd loads each on first use
# (src/core/dl.h), so that a command that needs none of them starts without their ~60 dependencies.
# Their -dev packages stay build dependencies (headers); dlopen takes the runtime sonames.
# The PostgreSQL store (contract §9): libpq; Debian keeps its headers under /usr/include/postgresql.
PG_CFLAGS := -I/usr/include/postgresql
CFLAGS_COMMON += $(PG_CFLAGS)
# Voice media: MP3 decoding for <Play>, resampling (<Say>'s espeak-ng is loaded on first use).
LDLIBS   += -lmpg123 -lsoxr
# Speech to text (src/stt): PocketSphinx 5prealpha and sphinxbase (headers not -Wconversion clean);
# libsoxr (above) resamples for its 16 kHz model; external engines use libcurl (above).
STT_CFLAGS := -isystem /usr/include/pocketsphinx -isystem /usr/include/sphinxbase \
              -isystem /usr/include/$(shell gcc -print-multiarch)/sphinxbase
CFLAGS_COMMON += $(STT_CFLAGS)
# recd_build_info (src/ops/build_info.h): build/gen/recd_build.h, from git.
CFLAGS_COMMON += -Ibuild/gen

# Release flavour (build/) and sanitized test flavour (build/test/).
REL_CFLAGS  := $(CFLAGS_COMMON) -O2 -g
TEST_CFLAGS := $(CFLAGS_COMMON) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
ifdef CI
REL_CFLAGS  += -Werror
TEST_CFLAGS += -Werror
endif

LIB_SRC  := $(shell find src -name '*.c' ! -name main.c | sort)
# The console's page (console/, contract §10) goes into the library as a table of its bytes that
# scripts/embed-assets.py writes at build time (src/console/assets.h).
CONSOLE_FILES := $(sort $(wildcard console/*.html console/*.js console/*.css console/*.svg))
LIB_SRC  += build/gen/console_assets.c
REL_OBJ  := $(LIB_SRC:%.c=build/obj/%.o)
TEST_OBJ := $(LIB_SRC:%.c=build/test/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/test/unit/%)
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
# Replay binaries (gcc, ASan/UBSan): `make test` runs every corpus and every saved crash.
FUZZ_REPLAY := $(FUZZ_NAMES:%=build/test/fuzz/replay_%)
# libFuzzer binaries (clang): `make fuzz` explores for FUZZ_SECONDS per target.
FUZZ_BIN := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(RE_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined
FUZZ_CFLAGS += $(PG_CFLAGS)
FUZZ_CFLAGS += $(STT_CFLAGS)
FUZZ_CFLAGS += -Ibuild/gen
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := gcc clang libclang-rt-14-dev make pkg-config libc6-dev libsqlite3-dev libsndfile1-dev \
            libssl-dev libmp3lame-dev libcmocka-dev python3 python3-pytest python3-requests \
            python3-twilio python3-jsonschema mpg123 openssl chromium chromium-driver python3-selenium \
            wrk nginx libexpat1-dev libre-dev libspandsp-dev sip-tester baresip sox
DEB_PKGS += libpocketsphinx-dev pocketsphinx-en-us pocketsphinx-testdata pocketsphinx
DEB_PKGS += libcurl4-openssl-dev
# The PostgreSQL store, and the server its tests start a throwaway cluster of.
DEB_PKGS += libpq-dev postgresql
DEB_PKGS += libhttp-parser-dev
DEB_PKGS += libmpg123-dev libsoxr-dev libespeak-ng-dev espeak-ng-data
# Runs the end-to-end suite in parallel workers (E2E_JOBS).
DEB_PKGS += python3-pytest-xdist
# The S3 tests: botocore's signer checks libcurl's Signature V4 (their server comes from npm, which the
# machine has with Node.js 20: see $(S3RVER) below).
DEB_PKGS += python3-botocore

.PHONY: all deps run test unit e2e fuzz clean format bench bench-ab bench-calls bench-peaks
all: deps build/recd

# Installs the missing packages: one `apt-get update`, then one install, only when needed.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

build/gen/console_assets.c: scripts/embed-assets.py $(CONSOLE_FILES)
	@mkdir -p $(@D)
	/usr/bin/python3 scripts/embed-assets.py $@ $(CONSOLE_FILES)
# recd_build_info's labels, from git; rewritten only when they change, so a new commit rebuilds
# one object. Outside a git checkout they say "unknown".
build/gen/recd_build.h: FORCE
	@mkdir -p $(@D); \
	v=$$(git describe --tags --always --dirty 2>/dev/null || echo unknown); \
	c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	printf '#define RECD_BUILD_VERSION "%s"\n#define RECD_BUILD_COMMIT "%s"\n' "$$v" "$$c" > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
build/obj/src/ops/metrics.o build/test/obj/src/ops/metrics.o build/fuzz/obj/src/ops/metrics.o: build/gen/recd_build.h
build/obj/src/service/backup.o build/test/obj/src/service/backup.o build/fuzz/obj/src/service/backup.o: build/gen/recd_build.h
.PHONY: FORCE
FORCE:

build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@

build/test/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -MMD -MP -c $< -o $@

build/librecd.a: $(REL_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/test/librecd.a: $(TEST_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/recd: build/obj/src/main.o build/librecd.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LDLIBS)

build/test/recd: build/test/obj/src/main.o build/test/librecd.a
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDLIBS)

build/test/unit/%: tests/unit/%.c build/test/librecd.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Itests/unit -o $@ $< build/test/librecd.a $(LDLIBS) -lcmocka

unit: deps $(UNIT_BIN) $(FUZZ_REPLAY)
	@scripts/run-unit.sh $(UNIT_BIN)
	@scripts/run-fuzz-replay.sh $(FUZZ_NAMES)

# Test harnesses for the voice endpoint, driven by tests/e2e/test_sip_endpoint.py.
VOICE_BIN := build/test/voice/sip_echo
VOICE_BIN += build/test/voice/webhook_client
build/test/voice/%: tests/voice/%.c build/test/librecd.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< build/test/librecd.a $(LDLIBS)

# A harness that writes store rows directly, for states only a live call makes (tests/e2e).
HARNESS_BIN := build/test/harness/store_rows
build/test/harness/%: tests/harness/%.c build/test/librecd.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< build/test/librecd.a $(LDLIBS)

build/test/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c build/test/librecd.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< fuzz/replay_main.c build/test/librecd.a $(LDLIBS)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -c $< -o $@

build/fuzz/librecd.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: fuzz/fuzz_%.c build/fuzz/librecd.a
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< build/fuzz/librecd.a $(LDLIBS)

# Explores each target for FUZZ_SECONDS, growing its corpus; a crash is saved under
# fuzz/crashes/NAME/ (keep it: `make test` replays it from then on).
fuzz: deps $(FUZZ_BIN)
	@scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

# promtool checks /metrics in tests/e2e/test_ops_metrics.py. Debian has it only in the prometheus
# package (a server, 96 MB with its web assets), so only its one static binary is taken from the
# package that `apt-get download` fetches; a promtool on the PATH is used as it is.
build/tools/promtool:
	@mkdir -p $(@D)
	@if command -v promtool >/dev/null 2>&1; then ln -sf "$$(command -v promtool)" $@; else \
	  cd $(@D) && rm -f prometheus_*.deb && \
	  { apt-get download prometheus >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download prometheus >/dev/null; }; } && \
	  dpkg-deb --fsys-tarfile prometheus_*.deb | tar -xO ./usr/bin/promtool > promtool.tmp && \
	  chmod 755 promtool.tmp && mv promtool.tmp promtool && rm -f prometheus_*.deb; fi

e2e: deps build/test/recd build/recd $(VOICE_BIN) $(HARNESS_BIN) build/tools/promtool
	@export RECD_BIN=$(CURDIR)/build/test/recd; $(call E2E_RUN,tests/e2e)

# Every test: the unit tests and then the end-to-end suite, all against the sanitized build.
# pytest's summary line closes the run; the exit status is non-zero if anything failed.
# The build runs with -j$(NPROC), after `make deps` (which must finish first on a fresh machine).
# The unit binaries run beside the SQLite end-to-end run (their output, kept in
# build/test/unit.log, is printed after it), and the end-to-end suite runs in E2E_JOBS
# pytest-xdist workers (docs/testing.md has the figures).
test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(TEST_BUILD)
	@$(PG_CLUSTER_UP); \
	{ scripts/run-unit.sh $(UNIT_BIN) && scripts/run-fuzz-replay.sh $(FUZZ_NAMES); } >build/test/unit.log 2>&1 & \
	unit=$$!; \
	export RECD_BIN=$(CURDIR)/build/test/recd; $(call E2E_RUN,tests/e2e); e=$$?; \
	wait $$unit; u=$$?; cat build/test/unit.log; \
	RECD_TEST_STORE=postgres $(PYTEST) $(PG_E2E); p=$$?; \
	[ $$u -eq 0 ] && [ $$e -eq 0 ] && [ $$p -eq 0 ]

NPROC := $(shell nproc 2>/dev/null || echo 2)
TEST_BUILD = $(UNIT_BIN) $(FUZZ_REPLAY) build/test/recd build/recd $(VOICE_BIN) $(HARNESS_BIN) $(S3RVER) \
              build/tools/promtool
# The end-to-end suite in E2E_JOBS pytest-xdist workers: its tests mostly wait (on servers, SIPp,
# subprocesses), so more workers than cores pays. The tests of a file that has a module-scoped
# fixture stay on one worker (one server per module); the others spread (tests/e2e/conftest.py).
# E2E_RUN runs pytest on $(1) that way, then, in one process, the tests marked `alone` (real-time
# streams that must have the machine); its status is non-zero if either part failed (5: none
# of $(1) is marked `alone`). Each run lists its slowest tests (--durations), so that the
# suite's 10-minute budget stays in view.
E2E_JOBS ?= 4
PYTEST = /usr/bin/python3 -m pytest -q -p no:cacheprovider -n $(E2E_JOBS) --dist loadgroup --durations=12
E2E_RUN = $(PYTEST) -m "not alone" $(1); s1=$$?; \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider -m alone $(1); s2=$$?; \
	[ $$s1 -eq 0 ] && { [ $$s2 -eq 0 ] || [ $$s2 -eq 5 ]; }

# PostgreSQL (contract §9). `make test` starts a throwaway cluster (scripts/pg-test-cluster.sh)
# for the whole run and stops it on the way out. The store contract tests (tests/unit/test_store.c)
# run against it beside SQLite and cover every store operation on both backends, so PG_E2E
# re-runs through the API only what the PostgreSQL backend alone can break; each file or test
# says why below. `make e2e-pg` runs the whole suite against PostgreSQL.
PG_CLUSTER_UP = pgdir=/tmp/recd-pg-test-$$$$; \
	RECD_TEST_PG=$$(scripts/pg-test-cluster.sh start $$pgdir) || exit 1; \
	trap "scripts/pg-test-cluster.sh stop $$pgdir" EXIT; trap "exit 130" INT TERM; \
	export RECD_TEST_PG RECD_TEST_PG_DIR=$$pgdir
# test_store_pg.py: the backend's own tests: the database going away under a running server
# (503) and coming back, down at start, two servers on one store.
PG_E2E := tests/e2e/test_store_pg.py
# test_lists_paging.py: each backend generates its own list SQL: order, keyset page tokens,
# filters and dates, a walk while rows arrive and while its anchors are deleted.
PG_E2E += tests/e2e/test_lists_paging.py
# test_calls_api.py: the calls rows (in progress, with absent and failed recordings), their lists,
# filters and paging, and fsck over them.
PG_E2E += tests/e2e/test_calls_api.py
# test_crash_import.py: an acknowledged import survives kill -9 at any moment; on PostgreSQL that
# rests on its commit, not on SQLite's file.
PG_E2E += tests/e2e/test_crash_import.py
# A live call writes its rows from the voice engine's thread while the API changes them, and
# kill -9 mid-call leaves rows that the restart must finish.
PG_E2E += tests/e2e/test_voice_calls.py::test_kill_9_mid_call_then_restart
PG_E2E += tests/e2e/test_voice_calls.py::test_live_call_recording_pause_resume_stop
# The transcription queue (schemas 4 and 5): the per-account switch, jobs and retries, a restart
# with jobs waiting, kill mid-job, cancel on delete, a job's callback kept across kill -9. The
# engine's own tests (WER, limits, options) do not touch the backend and run on SQLite only.
PG_E2E += tests/e2e/test_transcription.py::test_account_switch
PG_E2E += tests/e2e/test_transcription.py::test_external_engine
PG_E2E += tests/e2e/test_transcription.py::test_external_engine_failures
PG_E2E += tests/e2e/test_transcription.py::test_restart_with_100_jobs
PG_E2E += tests/e2e/test_transcription.py::test_kill_mid_job_reruns
PG_E2E += tests/e2e/test_transcription.py::test_delete_cancels
PG_E2E += tests/e2e/test_transcription.py::test_call_recording_recovered_after_kill_still_calls_back

# S3 (contract §9): the tests' S3-compatible server is npm's @20minutes/s3rver (docs/scale-out.md
# says why not s3rver itself), pinned by tests/s3/package-lock.json and installed with `npm ci`
# into build/s3rver (never globally). scripts/s3-test-server.sh starts one on a free port.
S3RVER := build/s3rver/s3rver.js
$(S3RVER): tests/s3/package.json tests/s3/package-lock.json tests/s3/s3rver.js
	@rm -rf build/s3rver && mkdir -p build/s3rver
	cp tests/s3/package.json tests/s3/package-lock.json build/s3rver/
	cd build/s3rver && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	cp tests/s3/s3rver.js $@

# test_ops_health.py: readiness while PostgreSQL is down, read-only or slow, and back.
PG_E2E += tests/e2e/test_ops_health.py

.PHONY: e2e-pg
e2e-pg: deps build/test/recd build/recd $(VOICE_BIN) $(HARNESS_BIN) build/tools/promtool
	@$(PG_CLUSTER_UP); \
	export RECD_TEST_STORE=postgres RECD_BIN=$(CURDIR)/build/test/recd; $(call E2E_RUN,tests/e2e)

# The whole end-to-end suite on PostgreSQL and S3 (contract §9): the throwaway cluster above, and
# the test S3 server that the suite starts itself (tests/e2e/conftest.py, RECD_TEST_MEDIA=s3; one
# per pytest-xdist worker). `make test` runs only the S3 tests of their own (tests/e2e/test_s3.py)
# against both.
.PHONY: e2e-scale
e2e-scale: deps build/test/recd build/recd $(VOICE_BIN) $(HARNESS_BIN) $(S3RVER) build/tools/promtool
	@$(PG_CLUSTER_UP); \
	export RECD_TEST_STORE=postgres RECD_TEST_MEDIA=s3 RECD_BIN=$(CURDIR)/build/test/recd; $(call E2E_RUN,tests/e2e)

run: deps build/recd
	@scripts/run-demo.sh

# Benchmark: recd against nginx on the same bytes (bench/bench.py; results in bench/RESULTS.md).
# `make bench [N=250000] [QUICK=1]`; data sets are cached under $RECD_BENCH_DIR (/var/tmp/recd-bench).
build/bench/%: bench/%.c build/librecd.a
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) -o $@ $< build/librecd.a $(LDLIBS)

bench: deps build/recd build/bench/gen build/bench/rawwrite build/bench/sip_sink build/bench/peaks build/bench/stt_speed build/bench/pageserve
	/usr/bin/python3 bench/bench.py $(if $(N),--n $(N)) $(if $(QUICK),--quick)
	/usr/bin/python3 bench/calls.py $(if $(QUICK),--quick)
	/usr/bin/python3 bench/stt.py $(if $(QUICK),--quick)
	/usr/bin/python3 bench/peaks.py $(if $(QUICK),--quick)
	/usr/bin/python3 bench/console.py $(if $(QUICK),--quick)
	$(if $(QUICK),,$(MAKE) -s bench-scale)

# recd on PostgreSQL + S3 against SQLite + files, same run, same data (bench/scale.py; its own section of
# bench/RESULTS.md): migrate, list pages/s and p99, media with Range, two nodes at once, import rate, with
# CPU per request. The last part of a full `make bench` (not of QUICK: it starts PostgreSQL and the S3
# test server). `make bench-scale [SCALE_N=5000] [QUICK=1]` (its own N: every object goes through s3rver).
.PHONY: bench-scale
bench-scale: deps build/recd build/bench/gen $(S3RVER)
	/usr/bin/python3 bench/scale.py $(if $(SCALE_N),--n $(SCALE_N)) $(if $(QUICK),--quick)

# Waveform peaks in times real time (bench/peaks.py; its own section of bench/RESULTS.md), also the
# last part of `make bench`. `make bench-peaks [QUICK=1]`.
bench-peaks: deps build/bench/peaks
	/usr/bin/python3 bench/peaks.py $(if $(QUICK),--quick)

# Transcription (bench/stt.py; its own section of bench/RESULTS.md), also the third part of
# `make bench`: the built-in engine's speed, and the list page with every transcription worker busy.
.PHONY: bench-stt
bench-stt: deps build/recd build/bench/stt_speed
	/usr/bin/python3 bench/stt.py $(if $(QUICK),--quick)

# The web console in headless Chromium on a store of N recordings (bench/console.py: first list
# render, waveform drawn, page weight; default N=100000), also the last part of `make bench`.
.PHONY: bench-console
bench-console: deps build/recd build/bench/gen
	/usr/bin/python3 bench/console.py $(if $(N),--n $(N)) $(if $(QUICK),--quick)

# Concurrent SIP calls with SIPp as the caller (bench/calls.py; its own section of bench/RESULTS.md),
# also the second half of `make bench`. `make bench-calls [LEVELS=50,100,…] [SECONDS=60] [QUICK=1] [RECORD=1]`
# `[SERVE=1]` (RECORD: every call recorded to disk by recd's recorder, as <Record> would; SERVE: the
# calls go to the real `recd serve --sip` and a TwiML application that answers <Record>).
bench-calls: deps build/bench/sip_sink build/recd
	/usr/bin/python3 bench/calls.py $(if $(LEVELS),--levels $(LEVELS)) $(if $(SECONDS),--seconds $(SECONDS)) \
	  $(if $(QUICK),--quick) $(if $(RECORD),--record) $(if $(SERVE),--serve)

# bench/ab.py's rounds, seconds per run and cases, for the three A/B targets below.
AB_OPTS = $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(DURATION),--duration $(DURATION)) \
	  $(if $(CASES),--cases "$(CASES)")

# A same-run A/B of two builds (bench/ab.py): BASE (a git revision, default HEAD~1) against the
# working tree's build/recd, on the bench's data set. `make bench-ab [BASE=REV] [N=…] [QUICK=1]`
# `[ROUNDS=R] [DURATION=S] [CASES=mp3,wav]` (rounds alternate which build goes first).
BASE ?= HEAD~1
bench-ab: deps build/recd build/bench/gen
	@rm -rf build/ab && git worktree add -f --detach build/ab/src $(BASE) >/dev/null && \
	  $(MAKE) -s -C build/ab/src build/recd >/dev/null && \
	  /usr/bin/python3 bench/ab.py --base-bin build/ab/src/build/recd --new-bin build/recd \
	    $(if $(N),--n $(N)) $(if $(QUICK),--quick) $(AB_OPTS); s=$$?; \
	  git worktree remove --force build/ab/src; exit $$s

# The cost of counting (issue 17: within 3% of CPU per request): its parts in ns (bench/metrics_cost.c),
# then one build with `--metrics off` as the base against metrics on, in a same-run A/B on the bench's
# data set. `make bench-metrics [N=…] [QUICK=1]`.
.PHONY: bench-metrics
bench-metrics: deps build/recd build/bench/gen build/bench/metrics_cost
	@d=$$(mktemp -d) && build/bench/metrics_cost $$d; s=$$?; rm -rf $$d; exit $$s
	/usr/bin/python3 bench/ab.py --base-bin build/recd --new-bin build/recd --base-args "--metrics off" \
	  $(if $(N),--n $(N)) $(if $(QUICK),--quick) $(AB_OPTS)

# The cost of the audit record (issue 17: the media path within 5% of --audit off): its parts in ns
# (bench/audit_cost.c), then the same-run A/B of one build. `make bench-audit [N=…] [QUICK=1]`.
.PHONY: bench-audit
bench-audit: deps build/recd build/bench/gen build/bench/audit_cost
	@d=$$(mktemp -d) && build/bench/audit_cost $$d; s=$$?; rm -rf $$d; exit $$s
	/usr/bin/python3 bench/ab.py --base-bin build/recd --new-bin build/recd --base-args "--audit off" \
	  $(if $(N),--n $(N)) $(if $(QUICK),--quick) $(AB_OPTS)

format:
	clang-format -i $$(find src tests/unit tests/harness fuzz bench -name '*.[ch]')

clean:
	rm -rf build

-include $(REL_OBJ:.o=.d) $(TEST_OBJ:.o=.d) build/obj/src/main.d build/test/obj/src/main.d

# Reliability (figures in docs/reliability.md). `make load [LOAD_SECONDS=60]`: 512 connections of
# mixed traffic with wrk against build/recd; `make test-valgrind [VALGRIND_TESTS="pytest args"]`:
# end-to-end tests with every recd process under valgrind memcheck.
.PHONY: load test-valgrind
load: deps build/recd
	/usr/bin/python3 scripts/load.py

test-valgrind: deps
	@dpkg-query -W -f='$${Status}' valgrind 2>/dev/null | grep -q 'ok installed' || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind; }
	scripts/run-valgrind.sh
