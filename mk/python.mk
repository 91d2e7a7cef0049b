# python.mk: the Python package (python/ttt) over $(BUILD)/libttt.so.
#   make python        builds libttt.so, copies python/ with the library inside it to
#                      $(BUILD)/python-pkg and pip-installs that into the virtual environment
#                      $(PY_VENV) (default $(BUILD)/venv, made with --system-site-packages so
#                      that Debian's numpy and matplotlib are visible; PEP 668 forbids
#                      installing into Debian's python3 itself). Use it with
#                      $(BUILD)/venv/bin/python, or `. $(BUILD)/venv/bin/activate`.
#   make python-test   runs tests/python with that environment against $(BUILD)
#   make python-example  runs examples/python/train_tiny.py in that environment
#                      (plot in $(BUILD)/train_tiny.png)
PYTHON  ?= /usr/bin/python3
PY_VENV ?= $(BUILD)/venv

.PHONY: python python-example
python: $(BUILD)/libttt.so
	@rm -rf $(BUILD)/python-pkg
	@mkdir -p $(BUILD)/python-pkg
	cp -r python/pyproject.toml python/README-python.md python/ttt $(BUILD)/python-pkg/
	rm -rf $(BUILD)/python-pkg/ttt/__pycache__
	cp $(BUILD)/libttt.so $(BUILD)/python-pkg/ttt/libttt.so
	test -x $(PY_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install --quiet --no-build-isolation --no-deps --no-index --force-reinstall $(BUILD)/python-pkg
	cd / && $(abspath $(PY_VENV))/bin/python -c "import ttt; print('ttt', ttt.__version__, 'with', ttt.library_path)"

python-example: python
	$(PY_VENV)/bin/python examples/python/train_tiny.py --plot $(BUILD)/train_tiny.png

# the Python tests (tests/python) with the installed package's interpreter, against $(BUILD)
.PHONY: python-test
python-test: python $(BUILD)/ttt
	cd tests/python && TTT_LIB=$(abspath $(BUILD))/libttt.so TTT_BIN=$(abspath $(BUILD))/ttt $(abspath $(PY_VENV))/bin/python -m pytest -q test_model.py test_text.py test_golden.py test_install.py
