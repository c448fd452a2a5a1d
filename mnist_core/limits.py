"""Every size limit in one place. Each input with a size is checked against these from its
header or a capped read before the work is done, so one bad file or upload cannot take a small
shared server's memory or CPU (docs/reliability.md lists the tests). The limits a server's owner
may change (jobs at once, the model memory budget) are settings: mnist_core.settings."""
from __future__ import annotations

# Images: uploads on Draw, `predict` on the command line, samples in a handwriting zip.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # read at most this plus one byte from any file or stream
MAX_UPLOAD_PIXELS = 4096 * 4096  # checked from the image's header, before decoding

# IDX dataset files: MNIST holds 60,000 training images; Fashion-MNIST the same.
MAX_IDX_ITEMS = 1_000_000  # from the header, before anything is decompressed

# Handwriting zips.
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_BYTES = 50 * 1024 * 1024  # uncompressed total, against zip bombs
MAX_ZIP_ENTRY_BYTES = 64 * 1024  # a 28x28 PNG is well under 1 kB
MAX_CSV_FIELD = 200  # characters in one labels.csv field
MAX_HANDWRITING_SET = 20_000  # digits in one folder (a class's server shares it): about 20 MB

# Models: see mnist_core.models.budget (MNIST_MODEL_BUDGET_MB, 300 MB by default).

# Training runs.
MAX_TIME_BUDGET = 3600.0  # seconds of training a budgeted run may ask for
MAX_LEAVE_OUT = 10_000  # training images a run may leave out (marked wrong on Data)
MAX_MEMBERS = 5  # CNNs in an ensemble: each costs a whole network's time and memory

# Sweeps.
MAX_TRIALS = 200  # trials in one study
MAX_SWEEPS = 4  # sweeps running at once on one server; their trials share the job slots anyway

# Text people type, and what is kept of their work.
NAME_LIMIT = 40  # characters of a visitor's name
TEXT_LIMIT = 300  # characters of any text read back from a run folder
MAX_MARKS = 10_000  # label marks per dataset: more than the audit ever lists, and a bound on the file
MAX_VISITOR_HANDWRITING = 2_000  # digits in one visitor's set on a class's server
