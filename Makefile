# PianoCoach: thin verbs over `python -m ...`. Every target sets itself up first (make setup).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch goes in first and pinned: an unpinned torch pulls GBs of CUDA wheels. On a GPU host, point
# pip at a CUDA build, e.g. make setup TORCH_SPEC=torch==2.13.0 TORCH_INDEX_URL=<CUDA wheel index>
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
# Debian packages the project uses: FluidSynth and five GM soundfonts (rendering audio; MuseScore
# General is the held-out test soundfont),
# PortAudio (sounddevice), espeak-ng (speech), sox (audio checks), DejaVu (display text), Kai/Ming CJK fonts
# (jianzipu renders, Chinese on the display). OpenSSH: flashing (the tests run a loopback sshd).
# systemd: systemd-analyze rates the unit's hardening. Chromium and its driver: the web page's browser tests.
APT_PACKAGES ?= openssh-client openssh-server fluidsynth timgm6mb-soundfont fluid-soundfont-gm fluidr3mono-gm-soundfont musescore-general-soundfont csound-soundfont systemd \
	libportaudio2 espeak-ng sox fonts-dejavu-core \
	fonts-lxgw-wenkai fonts-arphic-ukai fonts-arphic-uming \
	qemu-user-static binfmt-support mmdebstrap arch-test p7zip-full chromium chromium-driver

# The dataset is read in place, never copied into the repository.
export PIANOCOACH_PERCEPIANO ?= $(abspath ../shared/percepiano)
# librosa's numba kernels compile once (~20 s) into this kept folder.
export NUMBA_CACHE_DIR ?= $(abspath .cache/numba)

# basic-pitch's nmp.onnx transcribes audio; without --no-deps its metadata pulls tensorflow
BASIC_PITCH := basic-pitch==0.4.0
SETUP_STAMP := $(VENV)/.setup-done
# The device-only test lane's venv (as on a Pi): device/requirements.txt, basic-pitch's model file, the test runner,
# and the device package itself, installed (not editable) from a clean copy of its sources by every test-device.
DEVICE_VENV ?= .venv-device
DEVICE_PY := $(DEVICE_VENV)/bin/python
DEVICE_PIP := $(DEVICE_PY) -m pip
DEVICE_STAMP := $(DEVICE_VENV)/.setup-done
DEVICE_SETUP_INPUTS := device/pyproject.toml device/requirements.txt tests/requirements.txt
DEVICE_BUILD := .cache/device-build
# more pytest options for the test targets, e.g. make test-quick PYTEST_ARGS="-x -k bundle"
PYTEST_ARGS ?=
# fails the device lane when a host package is importable there, or when pianocoach is not the installed copy
define DEVICE_ONLY_CHECK
import importlib.util, pathlib, sys, sysconfig
host = [m for m in ("torch", "librosa", "scipy", "numba", "llvmlite", "sklearn", "transformers",
                    "pianocoach_train", "pianocoach_export") if importlib.util.find_spec(m)]
if host:
    sys.exit("test-device: host packages are importable in the device venv: " + ", ".join(host))
spec = importlib.util.find_spec("pianocoach")
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
if spec is None or site not in pathlib.Path(spec.origin).resolve().parents:
    sys.exit(f"test-device: pianocoach is not installed in the device venv ({spec and spec.origin})")
endef
export DEVICE_ONLY_CHECK
SETUP_INPUTS := Makefile device/pyproject.toml device/requirements.txt host_training/pyproject.toml \
	host_training/requirements.txt host_training/requirements-llm.txt export/pyproject.toml tests/requirements.txt \
	tests/requirements-lint.txt

# llama-cpp-python has no wheel on PyPI: setup builds one from its source distribution (5-7 minutes on 2 cores,
# once; kept in .cache/llm/wheels). GGML_NATIVE=OFF: a wheel that also runs on another CPU of the same
# architecture. The same source holds llama.cpp's convert_hf_to_gguf.py, which export needs: it stays unpacked.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_DIR := .cache/llm
LLAMA_SRC := $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_CPP_VERSION)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# `make finetune CONFIG=...` (presets in host_training/llm_configs/), `make export-llm RUN=... QUANT=...`
CONFIG ?= host_training/llm_configs/tiny.toml
RUN ?= artifacts/llm/tiny-run
QUANT ?= Q4_K_M
# `make flash HOST=user@device [BUNDLE=folder|tar] [PORT=22]` or `make flash INVENTORY=devices.toml`;
# FLASH_OPTS passes more flags (--identity KEY, --ssh-option K=V, --pianocoach GATE, --staging DIR)
HOST ?=
INVENTORY ?=
PORT ?= 22
FLASH_OPTS ?=

# the MIDI scorer `make eval` / `make release-model` train (ridge mlp extra_trees boosting blend fcn gru)
MODEL ?= blend
# the scorers `make export` exports (the first one goes into the bundle it builds)
EXPORT_MODELS ?= blend
# `make bundle`: keep the committed default bundle's jianzipu reader (verified; piano feature changes do not
# touch it) or `READER=train` (trained and exported when artifacts/ has none)
READER ?= keep
# `make bundle AUDIO=keep`: keep its audio path (verified) instead of training it from the renders, for a feature
# version whose audio features were measured to be unchanged
AUDIO ?= train
# `make keygen` writes KEY_NAME.key / KEY_NAME.pub into $PIANOCOACH_KEY_DIR (default ~/.config/pianocoach/keys)
KEY_NAME ?= release

.PHONY: flash llama-cpp llm-data tiny-llm finetune export-llm bench-llm
.PHONY: test-host test-device test-quick device-setup lint repertoire-percepiano eval-identify eval-fundamentals eval-pipeline eval-transcription
.PHONY: sound-check bundle-sound-check pedal-model bundle-pedal velocity-model bundle-velocity piano-distances
.PHONY: golden eval-offsets note-end-model bundle-note-end note-end-crossfit
.PHONY: help setup apt test demo bench-web web-screenshots soak bench bench-pi llm-memory arm64-smoke eval-jianzipu bundle-jianzipu audio-render eval-audio eval-audio-quick data-check eval eval-quick release-model export bundle keygen verify-bundle clean

help:
	@echo "make demo        set up, then run the appliance on a sample piece (image display, speech to WAV); INPUT=file.wav|.mid"
	@echo "make test        set up, then run both test lanes: tests/host in .venv, tests/device in $(DEVICE_VENV)"
	@echo "make test-quick  the test suite without the tests marked slow, in .venv (a few minutes)"
	@echo "make test-host   tests/host in .venv"
	@echo "make lint        ruff (line length 120, import order, formatting) everywhere and mypy on device/"
	@echo "make test-device tests/device in $(DEVICE_VENV): only the device package installed, as on a Pi"
	@echo "make eval-identify  which piece is this? PercePiano takes against its passages; reports/repertoire/"
	@echo "make eval-fundamentals  mistakes put into PercePiano takes: found? the mark? reports/fundamentals/ (~25 min)"
	@echo "make eval-transcription  the device's transcriber on held-out-soundfont renders: note F1, velocity; reports/transcription/"
	@echo "make sound-check  train and measure the \"is this a piano?\" check on renders, speech, noise (~16 min); reports/sound_check/"
	@echo "make bundle-sound-check  put the trained sound check into the committed default bundle (other models kept)"
	@echo "make pedal-model  train and measure the sustain pedal heard in renders (~15 min); reports/pedal/"
	@echo "make bundle-pedal  put the trained pedal model into the committed default bundle (other models kept)"
	@echo "make eval-offsets  how far the heard note ends are from the sounding ones, and what the pedal gives back; reports/transcription/offsets.*"
	@echo "make note-end-model  train and measure when each heard note stops sounding (needs make audio-render; ~6 min); reports/note_end/"
	@echo "make bundle-note-end  put the trained note-end model into the default bundle (refused with another pedal model than it learned with)"
	@echo "make note-end-crossfit  note-end models each blind to a quarter of the performances, for measuring the scorer on heard ends (~15 min)"
	@echo "make velocity-model  train and measure the key velocity heard in renders (needs make audio-render; ~4 min); reports/velocity/"
	@echo "make bundle-velocity  put the trained velocity model into the default bundle (refused where its scorer learned from another: make bundle-transcription)"
	@echo "make bundle-transcription  retrain the transcription scorer with the heard velocities into the default bundle"
	@echo "make eval-pipeline  the performer test list through the device pipeline against its model offline: reports/pipeline/"
	@echo "make repertoire-percepiano  add PercePiano's MusicXML excerpts to DATA_DIR's repertoire (pianocoach repertoire add)"
	@echo "make soak        100 performances through one daemon process; resident memory growth (reports/soak/)"
	@echo "make arm64-smoke (root) install the device as on a Pi in an emulated arm64 Debian root and run it (~15 min cold)"
	@echo "make llm-memory  the feedback model's memory (0.5B Q4_K_M shape, tiny) and the Pi 4 / Pi 5 budget; reports/llm/"
	@echo "make bench-pi    (root) the bench cases on one core throttled to a Pi 4's and a Pi 5's speed; reports/bench/pi.json"
	@echo "make bench       time the scoring pipeline on one thread (60 s audio and MIDI); reports/bench/latest.json"
	@echo "make bench-web     the companion page on 10,000 takes: page times, memory, block timing; reports/web/bench.json"
	@echo "make web-screenshots  every page of the companion page at phone and laptop width (Chromium): reports/web/"
	@echo "make eval-jianzipu  train (when missing), export and evaluate the jianzipu image reader; reports/jianzipu/"
	@echo "make data-check  report on the PercePiano data (PIANOCOACH_PERCEPIANO=$(PIANOCOACH_PERCEPIANO))"
	@echo "make eval        train and score MODEL=$(MODEL) on every split and fold; report in reports/eval/"
	@echo "make eval-quick  the same on one fold of the performer split (a smoke run)"
	@echo "make audio-render  render PercePiano through 5 pianos, augmented, into audio features (cached, ~80 min)"
	@echo "make piano-distances  how different the soundfonts' piano programmes sound (reports/audio/pianos.{md,png})"
	@echo "make eval-audio  render (when missing), train and compare the audio scorers; table in reports/audio/audio.md"
	@echo "make release-model  train MODEL on the performer split minus its test list (artifacts/release/)"
	@echo "make export      release models EXPORT_MODELS=$(EXPORT_MODELS) -> ONNX, parity, INT8, figures, signed bundle"
	@echo "make bundle      rebuild the committed default bundle (device/pianocoach/data/default_bundle/)"
	@echo "make verify-bundle  check the default bundle (BUNDLE=path for another)"
	@echo "make golden      regenerate the golden numbers in tests/fixtures/ (after a FeatureSettings.version bump or a new bundle)"
	@echo "make llm-data    instruction data for the feedback language model (artifacts/llm/data/, DATA_CARD.md)"
	@echo "make finetune    LoRA/QLoRA fine-tuning CONFIG=$(CONFIG) (presets: host_training/llm_configs/)"
	@echo "make export-llm  fine-tuned RUN=$(RUN) -> GGUF -> QUANT=$(QUANT) -> greedy check -> bundle with the scorers"
	@echo "make bench-llm   tiny model tokens/s (float, Q8_0, Q4_K_M; 1-2 threads) + feedback relevance; reports/llm/"
	@echo "make flash       HOST=user@device (or INVENTORY=devices.toml) [BUNDLE=...]: copy over SSH, install, report"
	@echo "make keygen      make an Ed25519 signing key pair KEY_NAME=$(KEY_NAME) (private key stays outside git)"
	@echo "make setup       create .venv and install everything (idempotent)"
	@echo "make device-setup  create $(DEVICE_VENV) for the device-only test lane (idempotent)"
	@echo "make clean       remove .venv and caches"

setup: $(SETUP_STAMP)

$(SETUP_STAMP): $(SETUP_INPUTS)
	@$(MAKE) --no-print-directory apt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q $(TORCH_SPEC) -c host_training/requirements.txt -c device/requirements.txt $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PIP) install -q -r device/requirements.txt -r host_training/requirements.txt -r tests/requirements.txt \
		-r tests/requirements-lint.txt
	$(PIP) install -q --no-deps $(BASIC_PITCH)
	$(PIP) install -q -r host_training/requirements-llm.txt
	@$(MAKE) --no-print-directory llama-cpp
	$(PIP) install -q -e ./device -e ./host_training -e ./export
	@touch $@
	@echo "setup: done ($(VENV); the device CLI is $(VENV)/bin/pianocoach)"

llama-cpp:
	@if $(PY) -c "import llama_cpp" 2>/dev/null && test -f $(LLAMA_SRC)/vendor/llama.cpp/convert_hf_to_gguf.py; then exit 0; fi; \
	set -e; mkdir -p $(LLAMA_DIR)/wheels; \
	test -f $(LLAMA_SRC).tar.gz || $(PIP) download -q --no-deps --no-binary :all: -d $(LLAMA_DIR) llama-cpp-python==$(LLAMA_CPP_VERSION); \
	if ! ls $(LLAMA_DIR)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "setup: building llama-cpp-python $(LLAMA_CPP_VERSION) from source (5-7 minutes on 2 cores; log $(LLAMA_DIR)/build.log)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps -w $(LLAMA_DIR)/wheels $(LLAMA_SRC).tar.gz > $(LLAMA_DIR)/build.log 2>&1 \
			|| { tail -20 $(LLAMA_DIR)/build.log; exit 1; }; \
	fi; \
	$(PIP) install -q --no-deps $(LLAMA_DIR)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl; \
	tar -xzf $(LLAMA_SRC).tar.gz -C $(LLAMA_DIR) $(notdir $(LLAMA_SRC))/vendor/llama.cpp/convert_hf_to_gguf.py \
		$(notdir $(LLAMA_SRC))/vendor/llama.cpp/gguf-py $(notdir $(LLAMA_SRC))/vendor/llama.cpp/conversion; \
	echo "setup: llama-cpp-python $(LLAMA_CPP_VERSION) installed; GGUF converter in $(LLAMA_SRC)/vendor/llama.cpp"

# Installs missing Debian packages when root; otherwise says what is missing and carries on.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo -n "$$p "; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "setup: installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "setup: not root, skipping Debian packages. Missing: $$missing"; \
		echo "setup: install them with: sudo apt-get install --no-install-recommends $$missing"; \
	fi

# Test lanes: tests/host in .venv (everything), tests/device in $(DEVICE_VENV), which holds only the device
# package, installed as on a Pi (not editable), its pinned runtime and the test runner. `make test` runs both
# (each to the end) and fails if either fails; `make test-quick` skips the tests marked slow (tests/pytest.ini).
# `make lint` (ruff and mypy, seconds) runs first, as a third lane.
test: setup device-setup
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(MAKE) --no-print-directory test-host || status=1; \
	$(MAKE) --no-print-directory test-device || status=1; \
	if [ $$status != 0 ]; then echo "test: a lane failed (see above)"; fi; \
	exit $$status

# ruff (pycodestyle, pyflakes, import order; line length 120) on every package and the tests, with the one
# configuration in device/pyproject.toml, and mypy on the device package (its [tool.mypy] there)
LINT_PATHS := device host_training export tests
lint: setup
	$(VENV)/bin/ruff check --config device/pyproject.toml $(LINT_PATHS)
	$(VENV)/bin/ruff format --check --config device/pyproject.toml $(LINT_PATHS)
	$(VENV)/bin/mypy --config-file device/pyproject.toml device/pianocoach

test-host: setup
	$(PY) -m pytest -q -rs $(PYTEST_ARGS) tests/host

test-device: device-setup
	@rm -rf $(DEVICE_BUILD) && mkdir -p $(DEVICE_BUILD) && cp -r device/pyproject.toml device/pianocoach $(DEVICE_BUILD)/ \
		&& find $(DEVICE_BUILD) -name __pycache__ -prune -exec rm -rf {} + \
		&& $(DEVICE_PIP) install -q --no-deps --no-build-isolation --force-reinstall ./$(DEVICE_BUILD) && rm -rf $(DEVICE_BUILD)
	@broken=$$($(DEVICE_PIP) check | grep -v -e '^basic-pitch ' -e '^No broken'); \
		if [ -n "$$broken" ]; then echo "test-device: device/requirements.txt misses a dependency: $$broken"; exit 1; fi
	@$(DEVICE_PY) -c "$$DEVICE_ONLY_CHECK"
	$(DEVICE_PY) -m pytest -q -rs $(PYTEST_ARGS) tests/device

test-quick: setup
	$(PY) -m pytest -q -rs -m "not slow" $(PYTEST_ARGS) tests

device-setup: $(DEVICE_STAMP)

# Rebuilt from scratch when its inputs change, so nothing stays behind from an earlier requirement list.
$(DEVICE_STAMP): $(DEVICE_SETUP_INPUTS)
	@$(MAKE) --no-print-directory apt
	rm -rf $(DEVICE_VENV)
	python3 -m venv $(DEVICE_VENV)
	$(DEVICE_PIP) install -q -r device/requirements.txt -r tests/requirements.txt
	$(DEVICE_PIP) install -q --no-deps $(BASIC_PITCH)
	@touch $@
	@echo "device-setup: done ($(DEVICE_VENV): the device runtime and the test runner; make test-device installs the package)"

# `make demo INPUT=my.wav` (or .mid) plays your own recording to the appliance instead of the sample piece
INPUT ?=
DEMO_OUT ?= demo-output
DEMO_LANGUAGE ?= en
# make demo WEB=0: no companion page after the take; WEB_PORT: where it listens (127.0.0.1 only)
WEB ?= 1
WEB_PORT ?= 8080

demo: setup
	$(VENV)/bin/pianocoach verify-bundle
	$(PY) -m pianocoach.appliance.demo --out $(DEMO_OUT) --language $(DEMO_LANGUAGE) $(if $(INPUT),--input "$(INPUT)")
	@if [ "$(WEB)" != 0 ]; then \
		echo; echo "The companion page for the demo's history: http://127.0.0.1:$(WEB_PORT)/"; \
		echo "  press \"Show a code on the device\" there: the code appears here; Ctrl-C stops (make demo WEB=0 skips this)"; \
		$(PY) -m pianocoach.web --data-dir $(DEMO_OUT) --language $(DEMO_LANGUAGE) --host 127.0.0.1 \
			--port $(WEB_PORT) --codes-to-console; \
	fi

# the companion page on a history of 10,000 takes: page times (server and Chromium), memory, the daemon's block
# timing while it is browsed; reports/web/bench.json
bench-web: setup
	$(PY) -m pianocoach.web.bench --out reports/web/bench.json

# every page at phone and laptop width in Chromium: reports/web/*.png (the README shows them)
web-screenshots: setup
	$(PY) -m pianocoach.web.screenshots --out reports/web

# which piece is this? PercePiano's takes identified among its passages; reports/repertoire/identify.{json,md,png}
eval-identify: setup
	$(PY) -m pianocoach_train.identify_eval

# wrong/missed/extra notes, stops, restarts, skipped bars, dragging put into PercePiano takes (MIDI, and 40 takes
# rendered and transcribed), the mark as mistakes are added, the mark against the listeners: reports/fundamentals/
eval-fundamentals: setup
	$(PY) -m pianocoach_train.fundamentals_eval $(FUNDAMENTALS_ARGS)

# does the device deliver its model's accuracy? The performer test list through the device's pipeline against the
# bundle's scorer offline: reports/pipeline/pipeline.{json,md,png}
eval-pipeline: setup
	$(PY) -m pianocoach_train.pipeline_eval

# how well the device's transcriber hears a piano: the performer test list rendered through the held-out soundfont,
# note / note-with-offset F1, velocity error, cost (mir_eval): reports/transcription/transcription.{json,md,png}
eval-transcription: setup
	$(PY) -m pianocoach_train.transcription_eval

# why the heard note ends are wrong, and what the pedal could give back: the held-out renders make audio-render keeps,
# the default bundle's pedal model (about a minute): reports/transcription/offsets.{json,md,png}
eval-offsets: setup
	$(PY) -m pianocoach_train.offset_analysis

# when each heard note stops sounding (issue 19): trained on the transcribed renders make audio-render keeps, with the
# pedal model a bundle made now would carry (make pedal-model's, else the default bundle's), measured on the held-out ones (artifacts/note_end/, reports/note_end/); make
# bundle-note-end puts it into the default bundle (pianocoach transcribe writes its ends)
note-end-model: setup
	$(PY) -m pianocoach_train.note_end_model

# the "is this a piano?" check (issue 19): clips of PercePiano played by many General MIDI instruments, espeak-ng
# speech and noise; trained on the training soundfonts, measured on the held-out one (artifacts/sound_check/,
# reports/sound_check/sound_check.{json,md,png}); cached in .cache/sound_check/
sound-check: setup
	$(PY) -m pianocoach_train.sound_check_model

bundle-sound-check: setup
	$(PY) -m pianocoach_export sound-check

# the sustain pedal heard in a microphone take (issue 19): PercePiano rendered with its pedal, trained on the training
# soundfonts, measured on the held-out one clean and in a room (artifacts/pedal/, reports/pedal/pedal.{json,md,png});
# renders cached in .cache/pedal/
pedal-model: setup
	$(PY) -m pianocoach_train.pedal_model

bundle-pedal: setup
	$(PY) -m pianocoach_export pedal
	$(VENV)/bin/pianocoach verify-bundle

# the key velocity of each heard note (issue 19): the transcribed renders make audio-render keeps, trained on the
# training soundfonts, measured on the held-out one (artifacts/velocity/, reports/velocity/velocity.{json,md,png})
velocity-model: setup
	$(PY) -m pianocoach_train.velocity_model

bundle-velocity: setup
	$(PY) -m pianocoach_export velocity
	$(VENV)/bin/pianocoach verify-bundle

bundle-note-end: setup
	$(PY) -m pianocoach_export note-end
	$(VENV)/bin/pianocoach verify-bundle

# note-end models each trained without a quarter of the performances, so that every take's heard ends come from a model
# that never heard it (artifacts/note_end/crossfit/); `python -m pianocoach_train audio eval --models
# transcription_heard_ends_crossfit` measures the transcription scorer on them (README *Note ends heard*)
note-end-crossfit: setup
	$(PY) -m pianocoach_train.note_end_crossfit

# the transcription scorer retrained on the training renders' transcriptions with the key velocities the bundle's
# velocity model hears in them (issue 19, item 3), put into the committed default bundle alone (needs make audio-render)
bundle-transcription: setup
	$(PY) -m pianocoach_export transcription
	$(VENV)/bin/pianocoach verify-bundle

# `make repertoire-percepiano DATA_DIR=/var/lib/pianocoach`: add PercePiano's four works (its MusicXML excerpts, one
# edition of each: the *_Score_* files) to a device data folder's repertoire; the scores are read from ../shared.
# Each passage then learns its variants (what skilled pianists commonly play otherwise) from its performances.
DATA_DIR ?= demo-output
repertoire-percepiano: setup
	$(VENV)/bin/pianocoach repertoire add --title-from-file $(PIANOCOACH_PERCEPIANO)/score_xml/*_Score_*.musicxml \
		--set device.data_dir='"$(DATA_DIR)"'
	$(PY) -m pianocoach_train.score_variants --repertoire "$(DATA_DIR)/repertoire" --data $(PIANOCOACH_PERCEPIANO)

soak: setup
	$(PY) -m pianocoach.appliance.soak --sessions 100 --out reports/soak/latest.json

bench: setup
	OMP_NUM_THREADS=1 $(PY) -m pianocoach.bench --out reports/bench/latest.json
	$(PY) -m pianocoach.appliance.startup_bench --out reports/bench/startup.json

# the device installed (firmware_config/install.sh, offline, pinned aarch64 wheels) and run in an arm64 Debian
# bookworm root under qemu-user; root only; the root and wheels cached in .cache/arm64/; reports/arm64/smoke.json
arm64-smoke: setup
	bash tests/arm64/smoke.sh

# the local feedback model's memory beside the daemon: a Qwen2.5-0.5B-shaped Q4_K_M (random weights) and the tiny
# model, per n_ctx, and the budget for a Pi 4 1 GB / 2 GB and a Pi 5 (about 3 minutes); reports/llm/memory_budget.*
llm-memory: llama-cpp
	$(PY) -m pianocoach_train.llm.memory_budget --out reports/llm

# the bench cases on one core throttled to a Raspberry Pi 4's and 5's speed (root: a CPU cgroup), calibrated two
# ways against published figures (pianocoach/bench_pi.py); reports/bench/pi.json
bench-pi: setup
	$(PY) -m pianocoach.bench_pi --out reports/bench/pi.json

data-check: setup
	$(PY) -m pianocoach_train data check

eval: setup
	$(PY) -m pianocoach_train eval --model $(MODEL)

eval-quick: setup
	$(PY) -m pianocoach_train eval --model $(MODEL) --quick

release-model: setup
	$(PY) -m pianocoach_train release --model $(MODEL)

# which soundfont programmes are new pianos and which replay samples already heard (or the held-out piano's)
piano-distances: setup
	$(PY) -m pianocoach_train.audio.piano_distances

audio-render: setup
	$(PY) -m pianocoach_train audio render

eval-audio: audio-render
	$(PY) -m pianocoach_train audio eval
	OMP_NUM_THREADS=1 $(PY) -m pianocoach_export audio-report

eval-audio-quick: audio-render
	$(PY) -m pianocoach_train audio eval --quick

eval-jianzipu: jianzipu-reader
	$(PY) -m pianocoach_train jianzipu real-data
	$(PY) -m pianocoach_train jianzipu woodblock
	$(PY) -m pianocoach_export jianzipu

# the reader trained on the real crops and renders (make jianzipu-reader), INT8, into the committed default bundle
bundle-jianzipu: jianzipu-reader
	$(PY) -m pianocoach_export jianzipu --bundle
	$(VENV)/bin/pianocoach verify-bundle

# Export trains nothing: it takes finished runs from artifacts/ and stops, naming the target below, when one is
# missing. These targets train what is missing first; each command reuses a finished run of the same config
# (seconds once trained). `make bundle` ships the blend; READER=keep / AUDIO=keep take the committed bundle's.
comma := ,
BUNDLE_TRAINED := bundle-release-model $(if $(filter train,$(READER)),jianzipu-reader) \
	$(if $(filter train,$(AUDIO)),audio-release)
.PHONY: export-release-models bundle-release-model jianzipu-reader audio-release bundle-transcription

export-release-models: setup
	@for model in $(subst $(comma), ,$(EXPORT_MODELS)); do $(PY) -m pianocoach_train release --model $$model || exit 1; done

bundle-release-model: setup
	$(PY) -m pianocoach_train release --model blend

jianzipu-reader: setup
	$(PY) -m pianocoach_train jianzipu train

# the release models of the audio path `make eval-audio` chose (none before it has run)
audio-release: setup
	$(PY) -m pianocoach_train audio release --chosen

export: export-release-models jianzipu-reader
	$(PY) -m pianocoach_export export --models $(EXPORT_MODELS)

bundle: $(BUNDLE_TRAINED)
	$(PY) -m pianocoach_export bundle --default --reader $(READER) --audio $(AUDIO)
	$(VENV)/bin/pianocoach verify-bundle

verify-bundle: setup
	$(VENV)/bin/pianocoach verify-bundle $(BUNDLE)

# the numbers tests/device/test_golden.py checks; refuses feature changes made without a version bump
golden: setup
	OMP_NUM_THREADS=1 $(PY) tests/fixtures/regenerate.py

keygen: setup
	$(PY) -m pianocoach_export keygen --name $(KEY_NAME)

flash: setup
	$(PY) -m pianocoach_export flash $(if $(HOST),--host $(HOST)) $(if $(INVENTORY),--inventory $(INVENTORY)) \
		$(if $(BUNDLE),--bundle $(BUNDLE)) --port $(PORT) $(FLASH_OPTS)

llm-data: setup
	$(PY) -m pianocoach_train llm data

tiny-llm: setup
	@test -f artifacts/llm/data/train.jsonl || $(PY) -m pianocoach_train llm data
	$(PY) -m pianocoach_train llm tiny

# the tiny preset trains the tiny local model: built first when missing
finetune: setup
	@test -f artifacts/llm/data/train.jsonl || $(PY) -m pianocoach_train llm data
	@if [ "$(notdir $(CONFIG))" = tiny.toml ] && [ ! -f artifacts/llm/tiny-base/config.json ]; then $(PY) -m pianocoach_train llm tiny; fi
	$(PY) -m pianocoach_train llm finetune --config $(CONFIG)

export-llm: setup
	$(PY) -m pianocoach_export llm --run $(RUN) --quant $(QUANT)

bench-llm: setup
	$(PY) -m pianocoach_export bench-llm

clean:
	rm -rf $(VENV) $(DEVICE_VENV) .cache .pytest_cache tests/.pytest_cache
