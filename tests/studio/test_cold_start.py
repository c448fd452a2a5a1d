"""Home opens before torch has loaded: a fresh interpreter runs app.py's imports and Home itself
(AppTest), and torch must not be among the modules it loaded."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_home_renders_without_importing_torch():
    script = textwrap.dedent("""
        import sys
        import studio.warm
        studio.warm.start = lambda: None  # the background load is what would import it
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file("app.py", default_timeout=60).run()
        assert not at.exception, at.exception
        assert at.title[0].value == "MNIST Studio"
        assert any("CPU cores" in m.value for m in at.markdown), [m.value for m in at.markdown]
        print("torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False", "Home imported torch"


def test_the_background_load_imports_the_engine():
    script = textwrap.dedent("""
        import sys, time
        import studio.warm as warm
        warm.DELAY_S = 0.0
        warm.start(); warm.start()
        deadline = time.time() + 90
        while "mnist_core.train.trainer" not in sys.modules and time.time() < deadline:
            time.sleep(0.1)
        print("mnist_core.train.trainer" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "True"
