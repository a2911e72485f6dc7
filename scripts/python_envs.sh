# Sourced by scripts/test.sh and scripts/test-sanitizers.sh: the Python oracles and consumer dependencies the tests
# use, each in a venv of its own under .cache (prepared once, from PyPI), and SIGHTLINE_PYTHON set to the main one.
VENV=.cache/venv
if ! "$VENV/bin/python" -c "import pycocotools, numpy, zmq, msgpack, tidecv, supervision, lizard, nats, paho.mqtt" 2>/dev/null; then
  echo "test: preparing the Python oracles and consumer deps in $VENV (pycocotools, tidecv, supervision, numpy, pyzmq, msgpack, lizard, nats-py, paho-mqtt from PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check pycocotools tidecv supervision numpy pyzmq msgpack lizard nats-py paho-mqtt
fi
export SIGHTLINE_PYTHON="$PWD/$VENV/bin/python"
# The drift oracles (Evidently, NannyML, river) in a venv of their own: large, and Evidently needs pandas below 3.
DRIFT_VENV=.cache/drift-venv
if ! "$DRIFT_VENV/bin/python" -c "import evidently, nannyml, river" 2>/dev/null; then
  echo "test: preparing the drift oracles in $DRIFT_VENV (evidently, nannyml, river from PyPI; a few minutes)"
  python3 -m venv "$DRIFT_VENV"
  "$DRIFT_VENV/bin/python" -m pip install -q --disable-pip-version-check evidently nannyml river "pandas<3"
fi
# A real Label Studio for the collector's export (label-studio from PyPI: about 1 GB, 2-3 minutes the first time).
LS_VENV=.cache/labelstudio-venv
if ! [ -x "$LS_VENV/bin/label-studio" ] || ! "$LS_VENV/bin/python" -c "import sentry_sdk, sys; sys.exit(int(sentry_sdk.VERSION.split('.')[0]) >= 3)" 2>/dev/null; then
  echo "test: preparing Label Studio in $LS_VENV (label-studio from PyPI; a few minutes)"
  python3 -m venv "$LS_VENV"
  # sentry-sdk 3 (2026-12) dropped an option Label Studio 1.23 passes at start-up: it would not start at all
  "$LS_VENV/bin/python" -m pip install -q --disable-pip-version-check label-studio "sentry-sdk<3"
fi

# confseq's C++ header, the oracle of the rollout's mSPRT (tests/reference/msprt_confseq_test.cpp): its PyPI sdist,
# checked by hash (the Python package does not build on Python 3.11, FACTS.md; the header alone compiles).
CONFSEQ_TAR=.cache/confseq/confseq-0.0.11.tar.gz
if ! [ -f .cache/confseq/confseq-0.0.11/src/confseq/uniform_boundaries.h ]; then
  echo "test: fetching confseq 0.0.11's sdist from PyPI (the header of the mSPRT oracle)"
  mkdir -p .cache/confseq
  python3 - "$CONFSEQ_TAR" <<'PY'
import re, sys, urllib.request
index = urllib.request.urlopen("https://pypi.org/simple/confseq/", timeout=60).read().decode()
url = re.search(r'href="(https://[^"#]*/confseq-0\.0\.11\.tar\.gz)', index).group(1)
open(sys.argv[1], "wb").write(urllib.request.urlopen(url, timeout=120).read())
PY
  echo "b4f7723089478dda4b011a0bfe4d449f017d7ce0ec0d5039181c3e4a576bc914  $CONFSEQ_TAR" | sha256sum -c --quiet
  tar xzf "$CONFSEQ_TAR" -C .cache/confseq
fi
