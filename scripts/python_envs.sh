# Sourced by scripts/test.sh and scripts/test-sanitizers.sh: the Python oracles and consumer dependencies the tests
# use, each in a venv of its own under .cache (prepared once, from PyPI), and SIGHTLINE_PYTHON set to the main one.
VENV=.cache/venv
if ! "$VENV/bin/python" -c "import pycocotools, numpy, zmq, msgpack, tidecv, supervision, lizard" 2>/dev/null; then
  echo "test: preparing the Python oracles and consumer deps in $VENV (pycocotools, tidecv, supervision, numpy, pyzmq, msgpack, lizard from PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check pycocotools tidecv supervision numpy pyzmq msgpack lizard
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
if ! [ -x "$LS_VENV/bin/label-studio" ]; then
  echo "test: preparing Label Studio in $LS_VENV (label-studio from PyPI; a few minutes)"
  python3 -m venv "$LS_VENV"
  "$LS_VENV/bin/python" -m pip install -q --disable-pip-version-check label-studio
fi

