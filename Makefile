# Two commands on a fresh machine: `make bench` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
REQS   := env/requirements-runner.txt env/requirements-easyocr.txt env/requirements-paddleocr.txt \
          env/requirements-onnx.txt env/requirements-report.txt env/requirements-dev.txt \
          env/requirements-fleet.txt env/requirements-training.txt
ARGS   ?=

SUITE  ?= bench/suites/default.yaml
DEPS   ?= deps
# env/jetson/setup.sh and env/server/setup.sh write env/local.mk: their runner environment
# (VENV), no pip installs here (DEPS), and a suite naming each engine's interpreter (SUITE).
-include env/local.mk

MINUTES ?= 60
INVENTORY ?= env/fleet/example-local.yml
REPORT_FROM ?= results
REPORT_OUT  ?= reports/latest

.PHONY: bench bench-real resume graphs fleet test report report-benchmark telemetry-benchmark fots-backbones fots-throughput lines photolike train-fots finetune-easyocr finetune-ppocrv6 train-charcls charcls-stages system deps dataset clean-venv

bench: $(DEPS) graphs  ## run the default suite on the embedded dataset (ARGS="--limit 20" etc.)
	ORT_DISABLE_TELEMETRY=1 $(BIN)/python -m bench run --config $(SUITE) $(ARGS)

bench-real: $(DEPS) graphs  ## the default suite on the real photographs of datasets/real-useby/test (ARGS as for bench)
	ORT_DISABLE_TELEMETRY=1 $(BIN)/python -m bench run --config $(SUITE) --dataset datasets/real-useby/test $(ARGS)

resume: $(DEPS) graphs  ## continue the latest run (under ARGS="--results DIR", or results/) without redoing recorded samples
	ORT_DISABLE_TELEMETRY=1 $(BIN)/python -m bench run --resume $(ARGS)

graphs:  ## ONNX graphs made once into the cache, so that ONNX cells load without torch: the two-stage reader's
	-$(BIN)/python -m models.charcls.export

fleet: export FLEET_ARGS = $(ARGS)
fleet: export FLEET_RESULTS = $(abspath $(REPORT_FROM))
fleet: export ANSIBLE_CONFIG = env/fleet/ansible.cfg
fleet: $(DEPS)  ## the suite on every host of INVENTORY (Ansible over SSH), their runs fetched into results/, then the report
	@test -f "$(INVENTORY)" || { echo "error: INVENTORY=$(INVENTORY): no such inventory file" >&2; exit 2; }
	$(BIN)/ansible-playbook -i $(INVENTORY) env/fleet/bench.yml; status=$$?; \
	$(MAKE) --no-print-directory report ARGS=; exit $$status

test: deps graphs  ## the test suite (real engines on a few images, fault tests)
	$(BIN)/python -m pytest $(ARGS)

report: $(DEPS)  ## a markdown report from every run under results/ (ARGS="--alias DEVICE=Nano ...")
	$(BIN)/python -m bench.report $(REPORT_FROM) --out $(REPORT_OUT) $(ARGS)

report-benchmark: $(DEPS)  ## time a report over 100,000 sample rows; appends to results/benchmarks/
	$(BIN)/python -m bench.report.benchmark $(ARGS)

telemetry-benchmark: $(DEPS)  ## what the telemetry sampler costs a cell's timing; appends to results/benchmarks/
	$(BIN)/python -m bench.telemetry_benchmark $(ARGS)

fots-backbones: $(DEPS)  ## inference cost of FOTS with backbones B0-B3; appends to results/benchmarks/
	$(BIN)/python -m models.fots.backbones $(ARGS)

fots-throughput: $(DEPS)  ## training cost: line crops/s of the line recogniser, canvases/s of joint FOTS, lines/s rendered; appends to results/benchmarks/
	$(BIN)/python -m models.fots.throughput $(ARGS)

# rendered training lines (synth/lines.py), shared by the reader's recogniser and the general engines' fine-tuning
LINES ?= $(HOME)/.cache/ocr-edge-bench/lines/train
LINE_CODES ?= 20000
lines: $(DEPS)  ## render LINE_CODES generated codes' lines into the line cache LINES (appends; skipped when it exists)
	test -d $(LINES) || $(BIN)/python -m synth.lines --out $(LINES) --count $(LINE_CODES)

photolike: $(DEPS)  ## a check set like binarised phone photos of codes (tight, black on white, held-out styles) in results/photolike
	$(BIN)/python -m synth.photolike --out results/photolike --count 300

DATASET ?=
train-fots: lines  ## train the reader's line recogniser further for MINUTES (resumes; GPU if present); DATASET=photos: fine-tune on them
ifeq ($(DATASET),)
	$(BIN)/python -m models.fots.train_lines --cache $(LINES) --resume --minutes $(MINUTES) $(ARGS)
else
	$(BIN)/python -m models.fots.finetune $(DATASET) --cache $(LINES) --minutes $(MINUTES) $(ARGS)
endif

finetune-easyocr: lines  ## fine-tune EasyOCR's english_g2 recogniser on code lines (DATASET=photos: with them) for MINUTES
	$(BIN)/python -m models.easyocr_codes.finetune --cache $(LINES) --minutes $(MINUTES) $(if $(DATASET),--dataset $(DATASET)) $(ARGS)

finetune-ppocrv6: lines  ## fine-tune PP-OCRv6's small recogniser on code lines (DATASET=photos: with them) for MINUTES
	$(BIN)/python -m models.ppocrv6_codes.finetune --cache $(LINES) --minutes $(MINUTES) $(if $(DATASET),--dataset $(DATASET)) $(ARGS)

train-charcls: $(DEPS)  ## train the two-stage reader's character classifier afresh (ARGS="--frames 4000" etc.)
	$(BIN)/python -m models.charcls.train $(ARGS)

charcls-stages: $(DEPS)  ## the two-stage reader stage by stage: accuracy, detection and classification ms, confidence
	$(BIN)/python -m models.charcls.evaluate $(ARGS)

dataset: $(DEPS)  ## regenerate the embedded dataset (byte-identical with the pinned env)
	$(BIN)/python -m synth.frames --out datasets/synth-codes --seed 20240801 --count 200

deps: system $(VENV)/.installed

system:
	@env/install-system.sh

$(VENV)/.installed: $(REQS) env/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c env/constraints.txt $(addprefix -r ,$(REQS))
	touch $@

clean-venv:
	rm -rf $(VENV)
